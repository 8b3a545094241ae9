"""The walk-through of docs/python.md: load -> fit -> to_pandas -> a chart -> bootstrap ->
similarity, on a simulated paper-shaped data set (`prefdissect simulate --out data`)."""

import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import prefdissect

data = sys.argv[1] if len(sys.argv) > 1 else "data"

ds = prefdissect.load(data)
print(len(ds.judges), "judges,", len(ds.groups), "groups,", len(ds.properties), "properties,",
      ds.n_pairs, "pairs")
print(ds.judges[:4], ds.groups[:3], ds.properties[:3])

t0 = time.time()
fit = prefdissect.fit(ds, config="fast")          # posterior means, 33 x 16 x 10 fits
print(fit, f"in {time.time() - t0:.1f} s")
print(fit.weights.shape, fit.weights.dtype)

df = fit.to_pandas()
print(df.head().to_string())

# The paper's view: probability that the human prefers the response with more of a property,
# averaged over the scenario groups.
scen = [g for g in fit.groups if g[0].isupper()]
human = df[(df.judge == "human") & df.group.isin(scen)]
probs = human.groupby("property", sort=False)["probability"].mean().sort_values()
print(probs.tail(5).round(1).to_string())

fig, ax = plt.subplots(figsize=(6, 7))
ax.barh(probs.index, probs.values - 50, left=50)
ax.axvline(50, color="black", linewidth=0.8)
ax.set_xlabel("P(preferred) for the human, %")
fig.tight_layout()
fig.savefig("human.png", dpi=100)
print("wrote human.png")

ds3 = prefdissect.load(data, judges=["human", "gpt-4-1106-preview", "llama-2-7b"])
boot = prefdissect.bootstrap(ds3, replicates=200, seed=0)
ci = boot.to_pandas()
row = ci[(ci.quantity == "weight") & (ci.judge == "human") & (ci.group == "Advice")]
print(row[["feature", "point", "ci_low", "ci_high"]].head(4).to_string(index=False))

sim = prefdissect.similarity(fit)
print(sim[sim.group == "scenarios"].sort_values("similarity").tail(3).to_string(index=False))
fit.save("fit-out")
print("saved: the files of `prefdissect fit --out fit-out`")

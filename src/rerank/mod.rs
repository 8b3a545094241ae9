//! Small preference-aligned response rerankers (the training-based lever of the paper's
//! section 6, as best-of-N selection instead of DPO): text features ([`text_features`]), a
//! batched MLP whose M models share one set of stacked weights ([`model`]), trained with the
//! pairwise Bradley–Terry loss through burn's autodiff ([`train`]), and best/worst-of-N
//! selection ([`select`]).

pub mod io;
pub mod model;
pub mod params;
pub mod select;
pub mod text_features;
pub mod train;

//! Nothing here: the end-to-end suite lives in `e2e/`.

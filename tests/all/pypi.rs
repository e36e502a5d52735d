//! PyPI through gatehouse, end to end with the real pip and uv.

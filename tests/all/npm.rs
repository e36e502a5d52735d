//! npm through gatehouse, end to end with the real npm and pnpm.

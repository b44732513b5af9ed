//! Non-blocking log sinks (being written).

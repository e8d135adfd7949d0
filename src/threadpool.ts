/**
 * Imported first by the command line: sizes libuv's thread pool before
 * anything uses it. Every file operation of Node's fs API runs on that pool
 * (four threads by default), and a submission is dozens of them, fsyncs
 * included, so four threads would cap submissions whatever the disk can do.
 * An operator's UV_THREADPOOL_SIZE wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';

#!/usr/bin/env node
// Each GStreamer pipeline keeps a few thread-pool threads busy (bus polling, appsink pulls), so the
// pool must be sized before anything starts it: libuv reads UV_THREADPOOL_SIZE once, at first use.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '64';
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));

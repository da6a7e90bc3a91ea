'use strict';
// A jsii runtime entry point (jsii's JSII_RUNTIME): runs jsii's own kernel, lib/program.js of the installed jsii
// Python package (JSII_DIRECT_EMBEDDED names its folder), with the API channel on this process's stdin and
// stdout, which the kernel inherits.
//
// jsii's default entry point keeps the kernel's stdout away from the channel by relaying every message through
// itself (child stdio -> pipe -> this process -> pipe -> Python): two extra process hops per call, ~1 s of a
// 50-model synth. Here the kernel process is handed Python's pipes and direct_io.js keeps console output off
// the channel instead; this process only starts the kernel, forwards signals to it and cleans up.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const embedded = process.env.JSII_DIRECT_EMBEDDED;
// The kernel finds its index worker next to itself (lib/runtime-index-worker.js): the same layout as jsii's own
// extraction, in a private folder removed when the kernel exits.
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'jsii-direct-'));
const lib = path.join(folder, 'lib');
fs.mkdirSync(lib);
for (const name of ['program.js', 'runtime-index-worker.js']) {
  fs.copyFileSync(path.join(embedded, `lib__${name}`), path.join(lib, name));
}
const kernel = spawn(process.execPath,
  [...process.execArgv, '--preserve-symlinks', '--require', path.join(__dirname, 'direct_io.js'),
    path.join(lib, 'program.js')],
  { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']) {
  process.on(signal, () => kernel.kill(signal));
}
kernel.once('error', (error) => {
  console.error('Failed to start the jsii kernel:', error.stack);
  fs.rmSync(folder, { recursive: true, force: true });
  process.exit(1);
});
kernel.once('exit', (code, signal) => {
  fs.rmSync(folder, { recursive: true, force: true });
  process.exit(code ?? 128 + (os.constants.signals[signal] ?? 0));
});

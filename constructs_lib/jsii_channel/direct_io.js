'use strict';
// Preloaded into the jsii kernel by runtime.js. The kernel reads and writes its API channel on fd 3 (jsii's relay
// provides it); here the channel is stdin (0) and stdout (1), so fd 3 is mapped to them, and everything else
// written to stdout or stderr -- console output, the kernel's own error lines -- leaves on stderr in the envelope
// that jsii's Python host decodes ({"stdout" | "stderr": base64}), exactly as the relay would have wrapped it.
const fs = require('fs');
const { Writable } = require('stream');

const { readSync, writeSync } = fs;
const CHANNEL = 3;

function envelope(key, bytes) {
  writeSync.call(fs, 2, `${JSON.stringify({ [key]: Buffer.from(bytes).toString('base64') })}\n`);
}

fs.readSync = function (fd, ...rest) {
  return readSync.call(fs, fd === CHANNEL ? 0 : fd, ...rest);
};
fs.writeSync = function (fd, data, ...rest) {
  if (fd === CHANNEL) return writeSync.call(fs, 1, data, ...rest);
  if (fd !== 1 && fd !== 2) return writeSync.call(fs, fd, data, ...rest);
  const bytes = bytesOf(data, rest);
  envelope(fd === 1 ? 'stdout' : 'stderr', bytes);
  return bytes.length;
};

// What writeSync(fd, data, ...rest) writes: (string, position?, encoding?), (buffer, offset?, length?, position?)
// or (buffer, { offset, length }).
function bytesOf(data, [second, third]) {
  if (typeof data === 'string') return Buffer.from(data, third);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const { offset = 0, length } = typeof second === 'object' && second !== null ? second
    : { offset: second ?? 0, length: third };
  return view.subarray(offset, length === undefined ? undefined : offset + length);
}

for (const [key, fd] of [['stdout', 1], ['stderr', 2]]) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      envelope(key, chunk);
      done();
    },
  });
  stream.fd = fd;
  stream.isTTY = false;
  Object.defineProperty(process, key, { configurable: true, enumerable: true, get: () => stream });
}

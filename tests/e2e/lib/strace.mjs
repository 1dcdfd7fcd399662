// System-call traces of a running server: strace attached to its pid (never strace starting the
// server: stopping such a strace orphans the server), and the reading of the trace that checks
// "synced before the answer" for every acknowledged write.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from './env.mjs';

const ATTACH_TIMEOUT_MS = 10_000;
const DETACH_TIMEOUT_MS = 10_000;

/** What a trace needs: client sockets read and written, file writes and syncs. */
const SYSCALLS = ['read', 'readv', 'recvfrom', 'recvmsg', 'write', 'writev', 'sendto', 'sendmsg',
  'pwrite64', 'pwritev', 'pwritev2', 'fsync', 'fdatasync'];

const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Attaches `strace -f` to every thread of process pid, writing the trace to file; resolves once
 * all its threads are attached. -yy names each descriptor (a file's path, a socket's addresses),
 * -s prints whole answers and whole WAL writes (a commit's frames go out in writes of up to
 * 128 KiB: src/store/walbuf.h). stop() detaches and waits for strace to exit.
 */
export async function attachStrace(pid, file) {
  const args = ['-f', '-tt', '-yy', '-s', '131072', '-e', `trace=${SYSCALLS.join(',')}`, '-o', file, '-p', String(pid)];
  const proc = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  let stderr = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); }));
  proc.stderr.setEncoding('utf8');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('not attached within 10 s')), ATTACH_TIMEOUT_MS);
    function done(err) {
      clearTimeout(timer);
      if (err) {
        try { proc.kill('SIGKILL'); } catch { /* gone */ }
        reject(new Error(`strace ${args.join(' ')}: ${err.message}\nstderr: ${stderr.slice(-2000)}`));
      } else resolve();
    }
    proc.on('error', done);
    exited.then(({ code, signal }) => done(new Error(`exited early (code ${code}, signal ${signal})`)));
    proc.stderr.on('data', (d) => {
      stderr += d;
      if (new RegExp(`Process ${pid} attached`).test(stderr)) done();
    });
  });
  return {
    /**
     * Detaches (SIGINT: strace lets go of every thread and the server runs on untraced) and waits
     * for strace to exit; SIGKILL after the timeout. Resolves to {code, signal, killed}.
     */
    async stop() {
      if (!live.has(proc)) return { ...(await exited), killed: false };
      try { proc.kill('SIGINT'); } catch { /* gone */ }
      const r = await Promise.race([exited, sleep(DETACH_TIMEOUT_MS).then(() => null)]);
      if (r) return { ...r, killed: false };
      try { proc.kill('SIGKILL'); } catch { /* gone */ }
      return { ...(await exited), killed: true };
    },
    stderr: () => stderr,
  };
}

const LINE = /^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(.*)$/;
const UNFINISHED = ' <unfinished ...>';
const RESUMED = /^<\.\.\. (\w+) resumed>(.*)$/;

/**
 * The system calls of an `strace -f -tt -yy` trace, in the order strace saw them:
 * {name, fd, path, text, result, start, end, time}. start and end are line numbers (a call other
 * threads interrupted spans from its "unfinished" line to its "resumed" one), so "a ended before
 * b started" is a.end < b.start: strace reports each thread's stops in the order they happened.
 */
export function parseTrace(text) {
  const calls = [];
  const pending = new Map(); // pid -> the unfinished call
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = LINE.exec(lines[i]);
    if (!m) continue;
    const [, pid, time, rest] = m;
    const resumed = RESUMED.exec(rest);
    let call;
    if (resumed) {
      call = pending.get(pid);
      pending.delete(pid);
      if (!call) continue;
      call.text += resumed[2];
    } else {
      const name = /^(\w+)\(/.exec(rest)?.[1];
      if (!name) continue; // signals, exits
      call = { name, pid, start: i, time, text: rest };
      if (rest.endsWith(UNFINISHED)) {
        call.text = rest.slice(0, -UNFINISHED.length);
        pending.set(pid, call);
        continue;
      }
    }
    call.end = i;
    const fd = /^\w+\((\d+)<(.*?)>(?:, |\))/.exec(call.text);
    call.fd = fd ? `${fd[1]}<${fd[2]}>` : null;
    call.path = fd ? fd[2] : '';
    const result = /\)\s+=\s+(-?\d+)[^=]*$/.exec(call.text);
    call.result = result ? Number(result[1]) : null;
    calls.push(call);
  }
  return calls;
}

const isWal = (c) => c.path.endsWith('-wal');
const isSocket = (c) => c.path.startsWith('TCP:');
const FILE_WRITES = new Set(['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2']);
const SOCKET_READS = new Set(['read', 'readv', 'recvfrom', 'recvmsg']);
const SOCKET_WRITES = new Set(['write', 'writev', 'sendto', 'sendmsg']);
const SYNCS = new Set(['fsync', 'fdatasync']);

/**
 * For each value (each sent by one write request that was answered 200, and unique in the
 * trace), whether the server synced the WAL between writing the value to it and answering:
 * the request that carried the value is read from a socket; the first write of the WAL holding
 * the value follows; an fsync/fdatasync of the WAL that succeeded starts after that write ended
 * and ends before the first write of an answer on that socket. Returns {checked, failures},
 * failures a list of {value, why}.
 */
export function checkSyncedBeforeAnswer(calls, values) {
  const failures = [];
  const syncs = calls.filter((c) => SYNCS.has(c.name) && isWal(c) && c.result === 0);
  for (const value of values) {
    const fail = (why) => failures.push({ value, why });
    const req = calls.find((c) => SOCKET_READS.has(c.name) && isSocket(c) && c.text.includes(value));
    if (!req) { fail('no socket read carries the request'); continue; }
    const answer = calls.find((c) => SOCKET_WRITES.has(c.name) && c.fd === req.fd && c.start > req.end);
    if (!answer) { fail(`no answer written to ${req.fd}`); continue; }
    if (!/HTTP\/1\.1 200 /.test(answer.text)) { fail(`the answer is not a 200: ${answer.text.slice(0, 200)}`); continue; }
    const wal = calls.find((c) => FILE_WRITES.has(c.name) && isWal(c) && c.start > req.end && c.text.includes(value));
    if (!wal) { fail('the value was never written to the WAL after the request'); continue; }
    if (wal.start > answer.start) { fail(`answered (${answer.time}) before the WAL write (${wal.time})`); continue; }
    const sync = syncs.find((s) => s.start > wal.end && s.end < answer.start);
    if (!sync) fail(`WAL written at ${wal.time}, answered at ${answer.time}, no WAL sync in between`);
  }
  return { checked: values.length, failures };
}

/** Reads and parses a trace file. */
export function readTrace(file) {
  return parseTrace(readFileSync(file, 'utf8'));
}

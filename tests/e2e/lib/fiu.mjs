// Fault injection with libfiu: a server started under `fiu-run -x` (the POSIX and libc wrappers
// preloaded) and driven through libfiu's remote control, the pair of named pipes
// <prefix>-<pid>.in and .out that fiu-ctrl writes to. The protocol is spoken here rather than
// through fiu-ctrl, whose shell and `cat` would block forever on the pipes of a server that died.
import { execFileSync } from 'node:child_process';
import { openSync, writeSync, readSync, closeSync, writeFileSync, readFileSync, readdirSync, constants } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './env.mjs';

const CONTROL_TIMEOUT_MS = 5_000;

/** The ASan runtime a binary is linked with (make test-asan builds), or null. */
export function asanRuntime(bin) {
  return /^\s*libasan\S* => (\S+)/m.exec(execFileSync('ldd', [bin], { encoding: 'utf8' }))?.[1] ?? null;
}

/**
 * How Env.startServer runs bin under libfiu: {wrapper, env}. The wrapper is fiu-run with the
 * POSIX preload and remote control at prefix. An ASan build must have its runtime first among
 * the loaded libraries: a shell between fiu-run and the server puts it first in LD_PRELOAD, and
 * LeakSanitizer is told to ignore what libfiu leaks itself (suppressions file in dir). Its
 * allocator then comes before libfiu's, so allocation faults cannot be injected into it.
 */
export function fiuServer(prefix, bin, dir) {
  const wrapper = ['fiu-run', '-x', '-f', prefix];
  const asan = asanRuntime(bin);
  if (!asan) return { wrapper, env: {} };
  wrapper.push('sh', '-c', 'LD_PRELOAD="$0 $LD_PRELOAD" exec "$@"', asan);
  const suppressions = join(dir, 'lsan-libfiu.supp');
  writeFileSync(suppressions, 'leak:libfiu.so\n');
  const lsan = [process.env.LSAN_OPTIONS, `suppressions=${suppressions}`, 'print_suppressions=0'].filter(Boolean).join(':');
  return { wrapper, env: { LSAN_OPTIONS: lsan } };
}

/**
 * What each thread of process pid is doing (name, state, kernel wait channel, system call), for
 * the message of a control command that got no answer: libfiu's control thread is the one
 * whose name is the program's and which waits in a FIFO open or read.
 */
function threadStates(pid) {
  const lines = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const at = (f) => { try { return readFileSync(`/proc/${pid}/task/${tid}/${f}`, 'utf8').trim(); } catch { return '?'; } };
      const state = /\) (\S)/.exec(at('stat'))?.[1] ?? '?';
      lines.push(`  ${tid} ${at('comm')} ${state} wchan=${at('wchan')} syscall=${at('syscall').split(' ')[0]}`);
    }
  } catch (e) {
    lines.push(`  (${e.message})`);
  }
  return lines.join('\n');
}

/** Whether process pid is there (a dead server's pipes have no reader: ENXIO until the deadline). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends one remote-control command (e.g. 'enable name=posix/io/sync/*,onetime') to the server
 * with pid; resolves once libfiu answered that it took it, throws when it refused it or did not
 * answer in time.
 */
export async function fiuControl(prefix, pid, command) {
  const deadline = Date.now() + CONTROL_TIMEOUT_MS;
  const late = () => Date.now() > deadline;
  let fdIn = -1;
  let fdOut = -1;
  try {
    // The answer comes on .out; reading it opened before the command is sent, the answer
    // arrives even when the control thread still holds the pipes of the previous command.
    fdOut = openSync(`${prefix}-${pid}.out`, constants.O_RDONLY | constants.O_NONBLOCK);
    // Non-blocking: with no reader (the server gone, or its control thread between two
    // commands) the open fails at once instead of waiting forever; and the reader the open saw
    // may be the previous command's, closing just then (EPIPE): the command was not sent.
    for (;;) {
      try {
        fdIn = openSync(`${prefix}-${pid}.in`, constants.O_WRONLY | constants.O_NONBLOCK);
        writeSync(fdIn, `${command}\n`);
        break;
      } catch (e) {
        if (fdIn >= 0) closeSync(fdIn);
        fdIn = -1;
        if (!['ENXIO', 'ENOENT', 'EPIPE'].includes(e.code) || late() || !alive(pid)) throw new Error(`libfiu control of ${pid}: ${e.message} (sending '${command}')${alive(pid) ? `; its threads:\n${threadStates(pid)}` : ': the process is gone'}`);
        await sleep(2);
      }
    }
    let reply = '';
    const buf = Buffer.alloc(64);
    while (!reply.includes('\n')) {
      let n = 0;
      try {
        n = readSync(fdOut, buf, 0, buf.length, null);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
      }
      if (n > 0) reply += buf.toString('utf8', 0, n); // 0: the control thread has not opened .out yet
      else if (late()) throw new Error(`libfiu control of ${pid}: no answer to '${command}' within 5 s; its threads:\n${threadStates(pid)}`);
      else await sleep(1);
    }
    if (reply.trim() !== '0') throw new Error(`libfiu refused '${command}' (answer ${reply.trim()})`);
  } finally {
    if (fdIn >= 0) closeSync(fdIn);
    if (fdOut >= 0) closeSync(fdOut);
  }
}

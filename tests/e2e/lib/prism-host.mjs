// prism-host — many Prism proxies in one process, for make e2e-contract (lib/contract.mjs).
//
// `prism proxy docs/openapi.yaml <upstream>` loads Prism and the contract anew for every server
// (about 2 s of CPU each, and the suite starts a hundred servers); this process loads them once
// and runs one proxy per server: Prism's own HTTP server (@stoplight/prism-http-server) with the
// configuration the CLI's proxy command builds: requests and responses validated, security
// checked, no --errors, no CORS. Each answer carries Prism's findings in its `sl-violations`
// header, exactly as the CLI's do.
//
// Protocol, one line each way: `open <upstream URL>` answers `<port>` (or `error <message>`);
// `close <port>` answers `closed`. The process prints `ready` once the contract is loaded, and
// exits when its stdin closes.
import http from 'node:http';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { createServer } = require('@stoplight/prism-http-server');
const { getHttpOperationsFromSpec } = require('@stoplight/prism-http');
const { createLogger } = require('@stoplight/prism-core');

// Prism forwards through Node's global agent, which keeps connections alive (Node 20): idle
// ones would hold slots of a server started with a small --max-connections and change what the
// suite's connection tests count. One connection per forwarded request, as a plain client's.
http.globalAgent = new http.Agent({ keepAlive: false });

const operations = await getHttpOperationsFromSpec(process.argv[2]);
// violations travel in the answers' header; the log would only repeat them
const logger = createLogger('PRISM', { level: 'silent' });
const proxies = new Map(); // port -> server

function proxyConfig(upstream) {
  return {
    validateRequest: true,
    validateResponse: true,
    checkSecurity: true,
    errors: false,
    upstreamProxy: undefined,
    mock: { dynamic: false, ignoreExamples: false },
    isProxy: true,
    upstream: new URL(upstream),
  };
}

async function open(upstream) {
  const server = createServer(operations, {
    cors: false,
    config: proxyConfig(upstream),
    components: { logger: logger.child({ name: 'HTTP SERVER' }) },
  });
  const address = await server.listen(0, '127.0.0.1');
  const port = Number(new URL(address).port);
  proxies.set(port, server);
  return String(port);
}

function close(port) {
  const server = proxies.get(Number(port));
  proxies.delete(Number(port));
  if (server) server.close().catch(() => {}); // not awaited: a connection in flight must not hold up the next open
  return 'closed';
}

const say = (line) => process.stdout.write(`${line}\n`);
say('ready');
const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve(); // answers in the order of the requests
lines.on('line', (line) => {
  const [verb, arg] = line.trim().split(/\s+/, 2);
  queue = queue.then(async () => {
    try {
      if (verb === 'open') say(await open(arg));
      else if (verb === 'close') say(await close(arg));
      else say(`error unknown command ${verb}`);
    } catch (e) {
      say(`error ${String(e?.message ?? e).replace(/\s+/g, ' ')}`);
    }
  });
});
lines.on('close', () => process.exit(0));

import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { formatAddress } from '../transport/TcpLink.js';
import { parseAddress, type TransportTls } from '../transport/TcpTransport.js';
import { TLS_MIN_VERSION } from '../transport/tlsOptions.js';
import type { PlaceMetrics } from './PlaceMetrics.js';
import type { PlaceView } from './PlaceView.js';

const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url));
const requireFromHere = createRequire(import.meta.url);

/** The files the dashboard is made of, by URL path: its own, and uPlot's from the installed package. */
const STATIC: ReadonlyMap<string, { file: () => string; type: string }> = new Map([
  ['/', { file: () => `${DASHBOARD_DIR}index.html`, type: 'text/html; charset=utf-8' }],
  ['/dashboard.js', { file: () => `${DASHBOARD_DIR}dashboard.js`, type: 'text/javascript; charset=utf-8' }],
  ['/dashboard.css', { file: () => `${DASHBOARD_DIR}dashboard.css`, type: 'text/css; charset=utf-8' }],
  [
    '/vendor/uPlot.iife.min.js',
    {
      file: () => requireFromHere.resolve('uplot/dist/uPlot.iife.min.js'),
      type: 'text/javascript; charset=utf-8',
    },
  ],
  [
    '/vendor/uPlot.min.css',
    { file: () => requireFromHere.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  ],
]);

/** Most events one /api/events answer carries. */
const MAX_EVENTS_PER_ANSWER = 1000;

/**
 * A place's HTTP side: Prometheus metrics, its status, events and stats as JSON, health checks, and
 * the dashboard. Read-only: nothing here changes the store. The JSON endpoints allow any origin, so
 * that the dashboard served by one place can read the others (it follows the leader).
 */
export class PlaceHttp {
  private server: Server | HttpsServer | null = null;
  private readonly cache = new Map<string, Buffer>();

  /** With tls: HTTPS (TLS 1.3 only) with the place's certificate; browsers need not show one. */
  constructor(
    private readonly view: PlaceView,
    private readonly metrics: PlaceMetrics,
    private readonly tls?: TransportTls,
  ) {}

  /** New connections use this certificate from now on (rotation). */
  reloadTls(t: TransportTls): void {
    const server = this.server;
    if (server !== null && 'setSecureContext' in server)
      server.setSecureContext({ cert: t.cert, key: t.key, minVersion: TLS_MIN_VERSION });
  }

  /** Starts serving at address ("host:port"); resolves once listening, with the address bound. */
  async listen(address: string): Promise<string> {
    const { host, port } = parseAddress(address);
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.json(res, 500, { error: (err as Error).message });
        else res.destroy();
      });
    };
    const t = this.tls;
    const server =
      t === undefined
        ? createServer(onRequest)
        : createHttpsServer({ cert: t.cert, key: t.key, minVersion: TLS_MIN_VERSION }, onRequest);
    // Keep-alive sockets would hold close() up; polling dashboards reconnect at once.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? formatAddress(host, bound.port) : address;
  }

  /** Stops serving and closes every connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://place');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.json(res, 405, {
        error: `method ${req.method} is not allowed; every endpoint is read-only (GET)`,
      });
      return;
    }
    const place = this.view.node.place;
    // Only the dashboards of this cluster's places may read these from a browser (it follows the
    // leader from one place to another), not any page the operator has open.
    const origin = req.headers.origin;
    res.setHeader('Vary', 'Origin');
    if (typeof origin === 'string' && this.isMemberOrigin(origin))
      res.setHeader('Access-Control-Allow-Origin', origin);
    switch (url.pathname) {
      case '/metrics': {
        const body = await this.metrics.text();
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(body);
        return;
      }
      case '/api/status': {
        if (place.tableData === null) {
          this.json(res, 503, { error: 'this place has not joined a cluster yet' });
          return;
        }
        this.json(res, 200, place.status());
        return;
      }
      case '/api/events': {
        const since = Number(url.searchParams.get('since') ?? '1');
        if (!Number.isSafeInteger(since) || since < 0) {
          this.json(res, 400, {
            error: `since must be a whole number >= 0, not '${url.searchParams.get('since')}'`,
          });
          return;
        }
        this.json(res, 200, this.view.node.events.read(since, MAX_EVENTS_PER_ANSWER));
        return;
      }
      case '/api/stats': {
        this.json(res, 200, {
          id: this.view.id,
          address: this.view.node.config.address,
          leader: this.view.isLeader(),
          lease: this.view.hasLease(),
          tableVersion: this.view.tableVersion(),
          term: this.view.tableTerm(),
          ...this.metrics.recent(),
          opsAnswered: this.metrics.opsAnswered,
          keys: this.view.keys(),
          partitions: this.view.roles(),
          replicationLag: this.view.replicationLag(),
          connections: this.view.connections(),
          copies: this.view.copies(),
        });
        return;
      }
      case '/health/live':
        this.json(res, 200, { live: true });
        return;
      case '/health/ready': {
        const reasons = this.view.notReady();
        this.json(res, reasons.length === 0 ? 200 : 503, { ready: reasons.length === 0, reasons });
        return;
      }
    }
    const file = STATIC.get(url.pathname);
    if (file === undefined) {
      this.json(res, 404, {
        error: `no such endpoint '${url.pathname.slice(0, 100)}'; try /, /metrics, /api/status, /api/events, /api/stats, /health/live or /health/ready`,
      });
      return;
    }
    let body = this.cache.get(url.pathname);
    if (body === undefined) {
      body = await readFile(file.file());
      this.cache.set(url.pathname, body);
    }
    res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** True when origin is http(s)://ADDRESS of a place's HTTP address in this place's table. */
  private isMemberOrigin(origin: string): boolean {
    const members = this.view.node.place.tableData?.members ?? [];
    return members.some(
      (m) => m.http !== undefined && (origin === `http://${m.http}` || origin === `https://${m.http}`),
    );
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
    });
    res.end(text);
  }
}

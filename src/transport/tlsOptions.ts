import type { ConnectionOptions, TlsOptions } from 'node:tls';

/** TLS for a transport: the CA to trust, this side's certificate and key, and what is asked of clients. */
export interface TransportTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /**
   * A listening place: must every client present a certificate of the CA (require, the default), or
   * may clients connect without one (optional)? Places always must, with a place certificate.
   */
  clientCerts?: 'require' | 'optional';
}

/** Only TLS 1.3: older versions are refused on every port. */
export const TLS_MIN_VERSION = 'TLSv1.3';

/**
 * Server options: the certificate is asked for but checked after the handshake (TcpTransport), so a
 * refused client gets an error that says why rather than a bare TLS alert.
 */
export function serverOptions(t: TransportTls): TlsOptions {
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    minVersion: TLS_MIN_VERSION,
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/** Options to dial host with: the server must prove itself with a certificate of the CA, for that host. */
export function clientOptions(t: TransportTls, host: string): ConnectionOptions {
  const options: ConnectionOptions = { ca: t.ca, cert: t.cert, key: t.key, minVersion: TLS_MIN_VERSION };
  // SNI takes names only; an IP address is checked against the certificate's IP SANs all the same.
  if (!/^[\d.]+$/.test(host) && !host.includes(':')) options.servername = host;
  return options;
}

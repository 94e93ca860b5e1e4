import net from 'node:net';

/** A loopback TCP proxy for tests that can freeze traffic (a silent peer) or cut every connection. */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  #frozen = false;

  constructor(private readonly targetPort: number) {
    this.#server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      const forward = (from: net.Socket, to: net.Socket) =>
        from.on('data', (d) => {
          if (!this.#frozen) to.write(d);
        });
      forward(client, upstream);
      forward(upstream, client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.#pairs.delete(pair);
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.#server.listen(0, '127.0.0.1', () => resolve((this.#server.address() as net.AddressInfo).port)),
    );
  }

  /** Silently drops all bytes in both directions; connections stay open. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Resumes forwarding; connections frozen before are closed, as their streams are corrupt. */
  thaw(): void {
    this.cutAll();
    this.#frozen = false;
  }

  cutAll(): void {
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  close(): Promise<void> {
    this.cutAll();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

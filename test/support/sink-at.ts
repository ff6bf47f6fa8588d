/**
 * smtp-sink on a port the test chooses. Every MX delivery of an instance goes to one port (the
 * transport's), so scenarios with several receiving MTAs run them on different loopback
 * addresses (127.0.0.1, 127.0.0.2, ...) with the same port, and a sink "replaced" mid-test must
 * come back on the same port.
 */
import { type Sink, startSink } from "./smtp-sink.ts";

export type SinkAt = Sink;

export function startSinkAt(options: { host: string; port: number; flags?: string[] }): Promise<SinkAt> {
  return startSink(options);
}

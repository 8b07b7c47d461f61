// The "external" test host: answers every HTTP request with the address it
// saw the request come from, which shows whether egress NAT translated it.
import * as http from "node:http";

export async function startExternal(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${req.socket.remoteAddress}\n`);
  });
  await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
  return server;
}

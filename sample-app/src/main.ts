import { startSampleApp } from './bootstrap.js';

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer from 0 to 65535 (got ${JSON.stringify(value)})`);
  }
  return port;
}

const redisUrl = process.env.REDIS_URL === '' ? undefined : process.env.REDIS_URL;
const { mcpUrl } = await startSampleApp({ port: portFromEnv(process.env.PORT), redisUrl });

console.log(`
nestjs-mcp-rate-limit sample MCP server
  MCP endpoint (Streamable HTTP): POST ${mcpUrl}
  Limit store: ${redisUrl === undefined ? 'in-memory (set REDIS_URL=redis://127.0.0.1:6379 to share limits through Redis)' : `Redis at ${redisUrl}`}

Connect with the MCP Inspector:
  npx @modelcontextprotocol/inspector
  then choose Transport "Streamable HTTP", URL ${mcpUrl}
  (add the header "Authorization: Bearer alice" to call as user alice; without it you are
  anonymous and limited by IP address)

Or with the MCP SDK client (npm i @modelcontextprotocol/client):
  import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
  const client = new Client({ name: 'demo', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL('${mcpUrl}'), {
    requestInit: { headers: { Authorization: 'Bearer alice' } },
  }));
  console.log(await client.callTool({ name: 'demo.echo', arguments: { text: 'hi' } }));

Or with curl:
  curl -s ${mcpUrl} -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo.echo","arguments":{"text":"hi"}}}'

Limits: demo.echo 5 per 10 s (fixed window) | demo.search bucket of 3, +1/s (token bucket)
        demo.lookup 2 per 10 s (fixed window; a denial is a tool result the model can read)
        demo.slow: 2 in flight per user AND 30 per minute (concurrency + fixed window)
        invoices.create 3 per 10 s AND 20 per day | demo://status, greet: 3 per 10 s (sliding)
        demo.free: none | every client: 100 messages per 60 s (housekeeping such as ping not counted)
Press Ctrl+C to stop.
`);

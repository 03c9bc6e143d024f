import { Controller } from '@nestjs/common';
import { LimitMcpMessages } from 'nestjs-mcp-rate-limit';
import { McpHttpControllerFor, McpStrategy, StreamableHttpTransport } from '@rekog/mcp-nest';

/** The MCP transport: Streamable HTTP, stateless JSON (MCP-Nest's default). */
export const mcpTransport = new StreamableHttpTransport();

/** The MCP server. `bootstrap.ts` connects it to the Nest app as a microservice. */
export const mcpStrategy = new McpStrategy({
  name: 'nestjs-mcp-rate-limit-sample',
  version: '1.0.0',
  transports: [mcpTransport],
});

/**
 * `POST /mcp` as a real Nest controller, so that Nest middleware and guards run on it (the demo
 * auth and the message-level limit). Without it MCP-Nest mounts the route itself, outside Nest.
 */
@Controller('mcp')
@LimitMcpMessages()
export class McpEndpointController extends McpHttpControllerFor(mcpTransport) {}

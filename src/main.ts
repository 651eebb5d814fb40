/**
 * The program's entry (bin/facekit.js runs it): the command line, handed the server as a function
 * it may start. This is the one module that knows both adapters; they never import each other, and
 * the server (fastify and all) is loaded only when `facekit serve` runs.
 */
import { main } from './cli/main.js';

await main(process.argv, {
  startServer: async (settings) => (await import('./server/app.js')).startServer(settings),
});

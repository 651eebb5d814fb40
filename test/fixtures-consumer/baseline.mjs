// Imported before 'facekit' (ES modules evaluate in import order): what the process looked like
// before the library was loaded, so the consumer can check that importing and using it changed nothing.
globalThis.__facekitBaseline = {
  fetch: globalThis.fetch,
  unhandledRejection: process.listenerCount('unhandledRejection'),
  uncaughtException: process.listenerCount('uncaughtException'),
};

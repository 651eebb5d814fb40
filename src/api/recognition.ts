/**
 * Recognition's building blocks (public API): the verification policy, distances, "who is this"
 * answers, and the gallery with its file format, lock, journal and live store.
 */
export * from '../recognition/policy.js';
export * from '../recognition/identify.js';
export * from '../recognition/gallery.js';
export * from '../recognition/gallery-file.js';
export * from '../recognition/gallery-lock.js';
export * from '../recognition/gallery-journal.js';
export * from '../recognition/gallery-store.js';
export { isDbUrl, loadAnyGallery, openDbGallery, openGalleryReader, openGalleryStore, openOrCreateDbGallery, type GalleryReader } from '../recognition/store/open.js';
export { PgGallery } from '../recognition/store/pg.js';
export { redactUrl } from '../recognition/store/sql-client.js';
export { ANN_MIN_FACES, INDEX_POLICIES, isIndexPolicy, type IndexPolicy, type IndexFileInfo } from '../recognition/vector-index.js';
export { distance, l2normalize, similarity, verifyPair, type Verdict } from '../stages/verification.js';

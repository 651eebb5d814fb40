/** The recognition networks by id, each loaded once per process on first use. */
import { RECOGNIZERS, type RecognizerId, type RecognizerInfo } from '../catalogue.js';
import { loadFaceplugin } from './faceplugin.js';
import { loadFaceres } from './faceres.js';
import { loadMobilefacenet } from './mobilefacenet.js';
import { loadResnet34 } from './resnet34.js';
import type { Recognizer } from './recognizer.js';

export type { Recognizer } from './recognizer.js';

const loaders: Record<RecognizerId, (info: RecognizerInfo) => Promise<Recognizer>> = {
  resnet34: loadResnet34,
  faceres: loadFaceres,
  mobilefacenet: loadMobilefacenet,
  faceplugin: loadFaceplugin,
};
const recognizers = new Map<RecognizerId, Promise<Recognizer>>();

export function loadRecognizer(id: RecognizerId): Promise<Recognizer> {
  let r = recognizers.get(id);
  if (!r) {
    r = loaders[id](RECOGNIZERS[id]);
    recognizers.set(id, r);
    r.catch(() => recognizers.delete(id));
  }
  return r;
}

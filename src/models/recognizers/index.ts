/** The recognition networks by id, each loaded once per process on first use (its module too). */
import { RECOGNIZERS, type RecognizerId, type RecognizerInfo } from '../catalogue.js';
import type { Recognizer } from './recognizer.js';

export type { Recognizer } from './recognizer.js';

const loaders: Record<RecognizerId, (info: RecognizerInfo) => Promise<Recognizer>> = {
  resnet34: async (info) => (await import('./resnet34.js')).loadResnet34(info),
  faceres: async (info) => (await import('./faceres.js')).loadFaceres(info),
  mobilefacenet: async (info) => (await import('./mobilefacenet.js')).loadMobilefacenet(info),
  faceplugin: async (info) => (await import('./faceplugin.js')).loadFaceplugin(info),
  mobilenetv2: async (info) => (await import('./mobilenetv2.js')).loadMobilenetv2(info),
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

/**
 * Plots as SVG text (no drawing library): the t-SNE / PCA scatter of faces and the ROC curve of an
 * evaluation. PNG comes from the same SVG through sharp. Pure string building, except `writePlot`.
 *
 * This module is the public face of the folder: one file per figure, the shared drawing helpers in
 * `svg.ts`, file output in `output.ts`.
 */
export { escapeXml, niceTicks, PALETTE, textWidth } from './svg.js';
export { displayName, scatterSvg, shorten, type ScatterOptions, type ScatterPoint } from './scatter.js';
export { LabelSpace, placeLabels, segmentHitsBox, segmentsCross, type LabelRequest, type PlacedLabel, type PlaceOptions } from './labels.js';
export { rocSvg, type RocOptions, type RocSeries } from './roc.js';
export { plotFormat, svgToPng, writePlot, type PlotFormat } from './output.js';

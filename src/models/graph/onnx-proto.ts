/**
 * Writes an ONNX model (onnx.proto's ModelProto) as protobuf bytes: the graph's nodes, initializers,
 * inputs and outputs, with the field numbers of onnx.proto. Write-only and only the messages a
 * converted graph needs; onnxruntime reads the result.
 */

/** Growable byte buffer with protobuf's primitive encodings. */
class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private varint(value: number | bigint): void {
    // int64 fields are two's complement on 64 bits (negative numbers take 10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private key(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.byteLength);
    this.ensure(data.byteLength);
    this.buf.set(data, this.len);
    this.len += data.byteLength;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  /** A repeated int64 field, packed (the proto3 default, which onnx.proto's parsers accept). */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** onnx.proto TensorProto.DataType values. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** float32 values (ONNX_FLOAT) or int64 values given as numbers (ONNX_INT64). */
  data: Float32Array | number[];
}

export type OnnxAttribute = number | number[] | string | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: Record<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** Dimensions: a number is fixed, a string is a symbolic (dynamic) dimension such as 'N'. */
  shape: (number | string)[];
}

export interface OnnxModel {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  graphName: string;
  /** Default-domain opset the nodes follow. */
  opset: number;
  producer: string;
  docString?: string;
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.packedInts(1, t.dims); // dims
  if (t.data instanceof Float32Array) {
    w.int(2, ONNX_FLOAT).string(8, t.name);
    // raw_data is little-endian; copy so that a view into a larger buffer writes only its own bytes.
    w.bytes(9, new Uint8Array(t.data.slice().buffer));
  } else {
    w.int(2, ONNX_INT64).string(8, t.name);
    const raw = new DataView(new ArrayBuffer(8 * t.data.length));
    t.data.forEach((v, i) => raw.setBigInt64(8 * i, BigInt(v), true));
    w.bytes(9, new Uint8Array(raw.buffer));
  }
}

function writeAttribute(w: ProtoWriter, name: string, value: OnnxAttribute): void {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7).
  w.string(1, name);
  if (typeof value === 'number') w.int(3, value).int(20, 2);
  else if (typeof value === 'string') w.string(4, value).int(20, 3);
  else if (Array.isArray(value)) w.packedInts(8, value).int(20, 7);
  else w.float(2, value.float).int(20, 1);
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, k, v));
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  // ValueInfoProto { name 1, type 2 { tensor_type 1 { elem_type 1, shape 2 { dim 1 { dim_value 1 | dim_param 2 } } } } }
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ONNX_FLOAT);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** The model's protobuf bytes (what onnxruntime's InferenceSession.create takes). */
export function encodeOnnxModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  // ModelProto: ir_version 1, producer_name 2, doc_string 6, graph 7, opset_import 8.
  w.int(1, irVersionFor(m.opset));
  w.string(2, m.producer);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (g) => {
    // GraphProto: node 1, name 2, initializer 5, input 11, output 12.
    for (const n of m.nodes) g.message(1, (x) => writeNode(x, n));
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (x) => writeTensor(x, t));
    for (const v of m.inputs) g.message(11, (x) => writeValueInfo(x, v));
    for (const v of m.outputs) g.message(12, (x) => writeValueInfo(x, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, m.opset));
  return w.finish();
}

/** The IR version that introduced an opset (onnx/helper.py's table), so older runtimes accept it. */
function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 11) return opset - 5;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

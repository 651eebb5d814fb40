/**
 * The public entry (dist/index.d.ts, as a user's TypeScript sees it) names every type its own
 * declarations mention: a user can then write down the type of anything facekit gives them.
 */
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

describe('the public entry', () => {
  it('exports every type its exports refer to', () => {
    const entry = join(ROOT, 'dist', 'index.d.ts');
    const program = ts.createProgram([entry], { skipLibCheck: true, noResolve: false });
    const checker = program.getTypeChecker();
    const mod = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    const real = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
    const exported = new Set(checker.getExportsOfModule(mod).map(real));
    const ours = (d: ts.Declaration) => d.getSourceFile().fileName.includes('/dist/');
    const missing = new Set<string>();
    const seen = new Set<ts.Symbol>();
    const visit = (node: ts.Node): void => {
      if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
        const at = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
        const sym = checker.getSymbolAtLocation(at);
        const s = sym && real(sym);
        if (s && !(s.flags & ts.SymbolFlags.TypeParameter) && (s.declarations ?? []).some(ours)) {
          if (!exported.has(s)) missing.add(`${s.name} (${s.declarations![0]!.getSourceFile().fileName.replace(/.*\/dist\//, 'dist/')})`);
          walk(s);
        }
      }
      ts.forEachChild(node, visit);
    };
    const walk = (s: ts.Symbol): void => {
      if (seen.has(s)) return;
      seen.add(s);
      for (const d of s.declarations ?? []) if (ours(d)) visit(d);
    };
    for (const s of exported) walk(s);
    expect([...missing]).toEqual([]);
    expect(exported.size).toBeGreaterThan(100);
  });
});

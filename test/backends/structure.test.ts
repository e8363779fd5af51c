/**
 * The generated code for qapi/, read back with ts-morph: the shapes a user
 * relies on (the typed client's methods, the holder union, optional
 * members, JSDoc) are checked on the type-checked program, not on text.
 */
import { join } from 'node:path';
import { Node, Project, type SourceFile, type Type } from 'ts-morph';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSchema } from '../../src/frontend/index.js';
import { repoRoot } from '../helpers/shared.js';

const toCamel = (name: string) => name.replace(/[-_]+([a-z0-9])/gi, (_m, c: string) => c.toUpperCase());

describe('generated/ structure (ts-morph)', () => {
  let index: SourceFile;
  let misc: SourceFile;

  beforeAll(() => {
    const project = new Project({
      compilerOptions: {
        strict: true,
        module: 199 /* NodeNext */,
        moduleResolution: 99 /* NodeNext */,
        target: 9 /* ES2022 */,
        skipLibCheck: true,
      },
    });
    project.addSourceFilesAtPaths(join(repoRoot, 'generated/*.ts'));
    project.resolveSourceFileDependencies();
    index = project.getSourceFileOrThrow(join(repoRoot, 'generated/index.ts'));
    misc = project.getSourceFileOrThrow(join(repoRoot, 'generated/misc.ts'));
  });

  it('the client has one method per command of qapi/, returning the command type', () => {
    const schema = parseSchema(join(repoRoot, 'qapi/qapi-schema.json'), { lenientDocs: true, onWarning: () => {} });
    const commands = schema.entities.filter((e) => e.meta === 'command').map((e) => e.name);
    expect(commands).toContain('query-iothreads');
    const client = index.getClassOrThrow('QapiClient');
    for (const command of commands) {
      const method = client.getMethod(toCamel(command));
      expect(method, `method for ${command}`).toBeDefined();
      expect(method!.getJsDocs().length, `JSDoc on ${command}`).toBeGreaterThan(0);
    }
    const iothreads = client.getMethodOrThrow('queryIothreads');
    expect(iothreads.getReturnType().getText(iothreads)).toBe('Promise<IOThreadInfo[]>');
    // query-iothreads takes no arguments: the only parameter is the options.
    expect(iothreads.getParameters().map((p) => p.getName())).toEqual(['options']);
  });

  it("IOThreadInfo has QEMU 11.1's wire-named members and holders; poll-weight (11.1 only) and holders optional", () => {
    const info = misc.getInterfaceOrThrow('IOThreadInfo');
    const props = new Map(info.getProperties().map((p) => [p.getName().replace(/^'|'$/g, ''), p]));
    expect([...props.keys()]).toEqual([
      'id',
      'thread-id',
      'poll-max-ns',
      'poll-grow',
      'poll-shrink',
      'poll-weight',
      'aio-max-batch',
      'holders',
    ]);
    for (const [name, prop] of props)
      expect(prop.hasQuestionToken(), name).toBe(name === 'holders' || name === 'poll-weight');
    const threadId = props.get('thread-id')!;
    expect(threadId.getType().getText(threadId)).toBe('number | bigint');
    const holders = props.get('holders')!;
    expect(holders.getTypeNodeOrThrow().getText()).toBe('IoThreadHolder[]');
  });

  it('IoThreadHolder is a union discriminated by type: qom → path, block-node → node-name', () => {
    const alias = misc.getTypeAliasOrThrow('IoThreadHolder');
    const branches = new Map<string, Type>();
    for (const member of alias.getType().getUnionTypes()) {
      const tag = member.getPropertyOrThrow('type').getTypeAtLocation(alias);
      if (tag.isStringLiteral()) branches.set(tag.getLiteralValue() as string, member);
    }
    expect([...branches.keys()].sort()).toEqual(['block-node', 'qom']);
    const propsOf = (t: Type) =>
      t
        .getProperties()
        .map((p) => p.getName())
        .sort();
    expect(propsOf(branches.get('qom')!)).toEqual(['path', 'type']);
    expect(propsOf(branches.get('block-node')!)).toEqual(['node-name', 'type']);
  });

  it('every exported declaration of every module carries JSDoc or is an implicit type', () => {
    const undocumented: string[] = [];
    for (const file of [misc, index.getProject().getSourceFileOrThrow(join(repoRoot, 'generated/control.ts'))]) {
      for (const [name, decls] of file.getExportedDeclarations()) {
        for (const decl of decls) {
          if (!Node.isInterfaceDeclaration(decl) && !Node.isTypeAliasDeclaration(decl)) continue;
          if (decl.getJsDocs().length === 0 && !/Base$|Arguments$/.test(name)) undocumented.push(name);
        }
      }
    }
    expect(undocumented).toEqual([]);
  });
});

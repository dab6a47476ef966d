// Types for scripts/check-deps.mjs (plain Node ESM, imported by its unit tests).
export type UseKind = 'element' | 'executable' | 'python-module' | 'typelib';
export interface Found {
  name: string;
  line: number;
}
export interface Use {
  kind: UseKind;
  name: string;
  where: string[];
  file?: string | null;
  package?: string;
}
export interface DpkgDb {
  pkgs: Map<string, { depends: string[][]; essential: boolean; priority: string }>;
  provides: Map<string, string[]>;
}
export const SCAN_DIRS: string[];
export const PH: string;
export const IGNORE: Record<UseKind | 'files', Record<string, string>>;
export const IMPLICIT: { kind?: UseKind; name: string; why: string }[];
export const KNOWN_PACKAGES: Record<UseKind, Record<string, string>>;
export function parseAptPackages(setupText: string): string[];
export function elementsInDescription(text: string): string[];
export function commandsInShell(text: string): Found[];
export function scanPython(text: string): {
  modules: Found[];
  typelibs: Found[];
  elements: Found[];
  executables: Found[];
};
export function scanScript(fileName: string, text: string): { elements: Found[]; executables: Found[] };
export function parseDpkgStatus(text: string): DpkgDb;
export function dependsClosure(db: DpkgDb, roots: string[]): Set<string>;
export function baseSystem(db: DpkgDb): Set<string>;
export function scanTree(root: string): Use[];
export function checkDeps(options: {
  root: string;
  setupPath: string;
  statusPath?: string;
}): Promise<{ uses: Use[]; problems: string[]; listed: string[] }>;

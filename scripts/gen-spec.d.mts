// Types for scripts/gen-spec.mjs, so tests can import the generator.
export interface SpecField {
  name: string;
  type: string;
  reserved: boolean;
}

export interface SpecMethod {
  name: string;
  index: number;
  synchronous: boolean;
  content: boolean;
  chassis: string[];
  fields: SpecField[];
}

export interface SpecClass {
  name: string;
  index: number;
  properties: SpecField[];
  methods: SpecMethod[];
}

export interface ParsedSpec {
  constants: Record<string, string>[];
  classes: SpecClass[];
}

export const specPath: string;
export const extensionsPath: string;
export const outPath: string;
export function parseSpec(xml: string, extensionsXml?: string): ParsedSpec;
export function generate(xml: string, extensionsXml?: string): string;

// warren in this process, for the in-process runs (npm run conformance) and the cases that restart it.
// It does not load tap, so the command can use it too.

/** The options of warren's startBroker the suite uses. */
export interface WarrenOptions {
  port: number;
  dataDir?: string;
  fsync?: boolean;
}

export interface InProcessWarren {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts warren in this process. warren is loaded only here, by a name TypeScript does not resolve, so
 * the suite compiles and runs against another broker without warren installed.
 */
export async function startWarren(options: WarrenOptions): Promise<InProcessWarren> {
  const name = 'warren';
  const warren = (await import(name)) as { startBroker(options: WarrenOptions): Promise<InProcessWarren> };
  return warren.startBroker(options);
}

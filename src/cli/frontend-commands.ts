// Placeholder until this command group lands.
export async function runCheck(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}
export async function runDump(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}

// Placeholder until this command group lands.
export async function runExec(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}
export async function runEvents(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}

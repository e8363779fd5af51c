// Placeholder until this command group lands.
export async function runGenerate(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}
export async function runVerify(_argv: string[]): Promise<number> {
  process.stderr.write('qapi-ts: not implemented yet\n');
  return 2;
}

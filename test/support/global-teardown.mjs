export default async function globalTeardown() {
  await globalThis.__KEYLEDGER_STACK__?.stop();
}

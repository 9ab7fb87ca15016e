import { createInterface } from 'node:readline/promises';

/**
 * Asks a person at a terminal to confirm; yes without asking when input or output is not a
 * terminal, since a script says what it means with its flags (`--yes` where it matters).
 */
export async function confirmedAtTerminal(
  question: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WriteStream = process.stderr,
): Promise<boolean> {
  if (!input.isTTY || !output.isTTY) return true;
  const prompt = createInterface({ input, output });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

// The libraries' Nx tags, read from each libs/<name>/project.json. The lint config and the
// type-check apply their plain-TypeScript rules by tag, so a new library is covered by its
// tag alone, without editing either.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The folders (`libs/<name>`) of the libraries that have any of these tags.
 * @param {...string} tags
 * @returns {string[]}
 */
export function librariesTagged(...tags) {
  return readdirSync(join(root, 'libs'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(root, 'libs', entry.name, 'project.json')))
    .filter((entry) => {
      const { tags: own = [] } = JSON.parse(readFileSync(join(root, 'libs', entry.name, 'project.json'), 'utf8'));
      return own.some((tag) => tags.includes(tag));
    })
    .map((entry) => `libs/${entry.name}`);
}

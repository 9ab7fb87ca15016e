/**
 * RFC 4180 CSV: fields joined by commas, records ended by CRLF; a field holding a comma, a
 * double quote, CR or LF is enclosed in double quotes, its quotes doubled. A field a spreadsheet
 * would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR: OWASP's CSV injection) is
 * prefixed with `'`: owners and names are free text chosen by whoever issued a key.
 */
export function csvField(value: string): string {
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A header and rows as one CSV document. */
export function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

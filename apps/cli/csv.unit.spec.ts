import { csvField, toCsv } from './csv.js';

describe('CSV (RFC 4180)', () => {
  it('leaves a plain field as it is', () => {
    expect(csvField('key_01jd')).toBe('key_01jd');
    expect(csvField('')).toBe('');
  });

  it('quotes a field with a comma, a quote or a line break, doubling its quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('{"unusedScopes":["a","b"]}')).toBe('"{""unusedScopes"":[""a"",""b""]}"');
  });

  it('keeps a spreadsheet from running a field as a formula', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('-1')).toBe("'-1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
  });

  it('ends every record, the header included, with CRLF', () => {
    expect(toCsv(['kind', 'owner'], [['no-expiry', 'billing, eu']])).toBe('kind,owner\r\nno-expiry,"billing, eu"\r\n');
  });
});

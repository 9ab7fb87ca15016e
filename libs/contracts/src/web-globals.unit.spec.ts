import fc from 'fast-check';
import { parseUrl, utf8Base64url } from './web-globals.js';

describe('web globals', () => {
  it('encodes any text as Node does in base64url, lone surrogates included', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => utf8Base64url(text) === Buffer.from(text, 'utf8').toString('base64url')));
  });

  it('parses URLs with the WHATWG parser', () => {
    expect(parseUrl('https://user@example.com/x#y')).toMatchObject({ protocol: 'https:', username: 'user', hostname: 'example.com', hash: '#y' });
    expect(() => parseUrl('not a url')).toThrow('Invalid URL');
  });
});

// Original file: libs/contracts/proto/keyledger/v1/keys.proto


/**
 * Where a leaked key was found: at least one of file, repository, url and description. Never the key.
 */
export interface LeakSource {
  /**
   * A path, relative to the repository or scanned directory.
   */
  'file'?: (string);
  'line'?: (number);
  'column'?: (number);
  /**
   * The commit that added the key (hex).
   */
  'commit'?: (string);
  'repository'?: (string);
  /**
   * An http(s) URL.
   */
  'url'?: (string);
  'description'?: (string);
  '_file'?: "file";
  '_line'?: "line";
  '_column'?: "column";
  '_commit'?: "commit";
  '_repository'?: "repository";
  '_url'?: "url";
  '_description'?: "description";
}

/**
 * Where a leaked key was found: at least one of file, repository, url and description. Never the key.
 */
export interface LeakSource__Output {
  /**
   * A path, relative to the repository or scanned directory.
   */
  'file'?: (string);
  'line'?: (number);
  'column'?: (number);
  /**
   * The commit that added the key (hex).
   */
  'commit'?: (string);
  'repository'?: (string);
  /**
   * An http(s) URL.
   */
  'url'?: (string);
  'description'?: (string);
  '_file'?: "file";
  '_line'?: "line";
  '_column'?: "column";
  '_commit'?: "commit";
  '_repository'?: "repository";
  '_url'?: "url";
  '_description'?: "description";
}

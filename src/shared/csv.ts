/**
 * A small RFC 4180 CSV reader shared by the engine's prompt sets and the extension's facts files:
 * quoted fields, doubled quotes, commas and newlines inside quotes, CRLF or LF line ends. Each row
 * carries the 1-based line it starts on, so a message can point at it even when an earlier field
 * spans lines or blank lines were skipped. Pure: the caller reads the file.
 */

export interface CsvRow {
  /** The 1-based line of the file on which the row starts. */
  readonly line: number;
  readonly fields: string[];
}

export interface CsvText {
  /** The rows with at least one non-empty field, in file order (blank lines are skipped). */
  readonly rows: CsvRow[];
  /** The line of the quote that opens a field the text never closes; the rows from there run together. */
  readonly unclosedQuoteLine?: number;
}

export function parseCsv(text: string): CsvText {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let quoteLine = 0;
  let line = 1;
  let rowLine = 1;
  const endRow = () => {
    fields.push(field);
    if (fields.some((f) => f !== '')) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else {
        field += ch;
        if (ch === '\n') line++;
        // A lone CR inside quotes is a line end too; CRLF counts once (at its LF).
        else if (ch === '\r' && text[i + 1] !== '\n') line++;
      }
    } else if (ch === '"') {
      quoted = true;
      quoteLine = line;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else field += ch;
  }
  endRow();
  return quoted ? { rows, unclosedQuoteLine: quoteLine } : { rows };
}

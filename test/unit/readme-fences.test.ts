/**
 * README.md renders (issue 15): a stray code fence in the Commands section
 * turned everything from Configuration to Webhooks into one code block on
 * GitHub. Fences are paired as CommonMark pairs them (an opening fence may
 * carry an info string, a closing one may not and must be at least as long),
 * every block is closed, and no block swallows a section heading.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The problems of a Markdown text's fences: unclosed blocks, headings inside blocks. */
function fenceProblems(md: string): string[] {
  const problems: string[] = [];
  let open: { line: number; char: string; len: number } | undefined;
  md.split('\n').forEach((text, i) => {
    const m = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(text);
    if (open === undefined) {
      if (m !== null && !(m[1]?.startsWith('`') && m[2]?.includes('`'))) open = { line: i + 1, char: (m[1] as string)[0] as string, len: (m[1] as string).length };
      return;
    }
    if (m !== null && (m[1] as string)[0] === open.char && (m[1] as string).length >= open.len && (m[2] as string).trim() === '') {
      open = undefined;
      return;
    }
    if (/^#{1,6} /.test(text)) problems.push(`line ${i + 1}: heading "${text}" inside the code block opened at line ${open.line}`);
  });
  if (open !== undefined) problems.push(`the code block opened at line ${open.line} is never closed`);
  return problems;
}

describe('README code fences', () => {
  it('pair up: every block closed, no section heading inside one', () => {
    expect(fenceProblems(readFileSync('README.md', 'utf8'))).toEqual([]);
  });

  it('the check finds a stray fence like the one the Commands section had', () => {
    const stray = ['## Commands', '```', 'cmd a', '```', 'prose', 'cmd b', '```', '', '## Configuration', 'text', '```sh', 'x', '```', ''].join('\n');
    expect(fenceProblems(stray)).toEqual(['line 9: heading "## Configuration" inside the code block opened at line 7']);
    expect(fenceProblems('```\nopen\n')).toEqual(['the code block opened at line 1 is never closed']);
  });
});

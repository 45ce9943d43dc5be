import os from 'node:os';

/**
 * Who is acting, for `--by`'s default: $USER, else the account's name, else its uid (containers,
 * cron and systemd often set no $USER). Recorded with every answer.
 */
export function whoIsActing(): string {
  if (process.env.USER) return process.env.USER;
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

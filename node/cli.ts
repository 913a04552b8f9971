/** The `cloudcoin` executable: runs one command of ./commands.ts and exits with its code. */
import { main } from "./commands.ts";

const code = await main(process.argv.slice(2));
// `start` keeps running until a signal; every other command ends here.
if (process.argv[2] !== "start" || code !== 0) process.exitCode = code;

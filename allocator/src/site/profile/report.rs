//! The heap profile's text ([`write_report`]): a header with the sites, samples and what was
//! dropped, then three ranked tables, written into a caller's buffer without allocating. The
//! profile's lock is held only while its sites are added up and ranked ([`super::Profile`]'s
//! snapshot); the sites are named after it is released, with `dladdr`
//! ([`symbol::with_symbol`]), which takes the dynamic loader's lock.

use super::{Row, MOSTLY_PERCENT, PROFILE};
use crate::options::{self, Opt};
use crate::platform::{self, symbol};
use crate::stats::{Writer, GLOBAL};

/// Longest module and symbol names written (longer ones are cut and end in `..`).
const NAME_MAX: usize = 60;
/// A buffer of this size always holds the whole report.
pub const REPORT_BYTES: usize = 16 * 1024;

/// Writes the heap profile into `buf` and returns the number of bytes written; cut short if
/// `buf` is smaller than [`REPORT_BYTES`]. Never allocates; the profile's lock is held only to
/// add up and rank the sites, not while they are named.
pub fn write_report(buf: &mut [u8]) -> usize {
    let short_ms = options::get(Opt::SitesShortMs) as u64;
    let snap = PROFILE.lock().snapshot(platform::now_ms(), short_ms);
    let scale = crate::site::sample_scale() as u64;
    let mut w = Writer::new(buf);
    w.s("sacs heap profile: ");
    w.num(snap.sites);
    w.s(" sites (");
    w.num(snap.keys);
    w.s(" site and size keys), ");
    w.num(snap.samples);
    w.s(" samples profiled of ");
    w.num(GLOBAL.site_samples.get());
    w.s(" sampled mallocs\n  not profiled: ");
    w.num(GLOBAL.site_records_dropped.get());
    w.s(" samples the table of live samples had no room for, ");
    w.num(snap.evicted_samples);
    w.s(" of ");
    w.num(snap.evicted_keys);
    w.s(" keys evicted from the profile, ");
    w.num(snap.unmatched_frees);
    w.s(" frees unmatched\n  counts are samples; est. = sampled bytes x ");
    w.num(scale);
    w.s(" (SACS_PROFILE_SAMPLE_EVERY), an estimate of the whole program's\n");
    w.s("  short: freed within ");
    w.num(short_ms);
    w.s(" ms (SACS_SITES_SHORT_MS); long: freed later, or live and older; a site is short or long when ");
    w.num(MOSTLY_PERCENT);
    w.s("% of its samples are, else mixed\n");
    w.s("  frag: live bytes of long-lived samples x the short-lived share of their size class (docs/profile.md)\n");
    let tables = [
        ("live bytes", &snap.by_live),
        ("allocated bytes", &snap.by_alloc),
        ("fragmentation cost", &snap.by_frag),
    ];
    for (what, top) in tables {
        w.s("\n  top sites by ");
        w.s(what);
        if top.len == 0 {
            w.s(": none\n");
            continue;
        }
        w.s("\n     live est.  alloc est.   frag est.  samples   live  short   long  mean life  lifetime   size  site\n");
        for row in top.rows() {
            write_row(&mut w, row, scale);
        }
    }
    w.len
}

/// One site's line.
fn write_row(w: &mut Writer, r: &Row, scale: u64) {
    let est = |sampled: u64| sampled.saturating_mul(scale) as usize;
    w.right(14, |w| w.bytes(est(r.live_bytes)));
    w.right(12, |w| w.bytes(est(r.bytes)));
    w.right(12, |w| w.bytes(est(r.frag)));
    w.num_w(r.samples, 9);
    w.num_w(r.live, 7);
    w.num_w(r.short, 7);
    w.num_w(r.long, 7);
    w.right(11, |w| match r.life_ms.checked_div(r.freed) {
        None => w.s("-"),
        Some(ms) if ms < 10_000 => {
            w.num(ms);
            w.s(" ms");
        }
        Some(ms) => {
            w.num(ms / 1000);
            w.s(" s");
        }
    });
    w.s("  ");
    w.pad(r.lifetime(), 8);
    w.right(7, |w| {
        w.num(r.size as u64);
        if r.keys > 1 {
            w.s("+");
        }
    });
    w.s("  ");
    write_site(w, r.site);
    w.s("\n");
}

/// `module+0xoffset symbol+0xoffset`, as much of it as `dladdr` knows, else the address.
fn write_site(w: &mut Writer, site: usize) {
    let cut = |w: &mut Writer, name: &[u8]| {
        w.raw(&name[..name.len().min(NAME_MAX)]);
        if name.len() > NAME_MAX {
            w.s("..");
        }
    };
    // SAFETY: sites are return addresses into code that called `malloc`. The profile is written
    // at exit or when the program asks for it; a program that unloads a library while asking
    // breaks this (docs/profile.md lists it as a limitation).
    unsafe {
        symbol::with_symbol(site, |s| match s {
            None => w.hex(site),
            Some(s) => {
                let base = s.module.rsplit(|&b| b == b'/').next().unwrap_or(s.module);
                if base.is_empty() {
                    w.s("(main program)");
                } else {
                    cut(w, base);
                }
                w.s("+");
                w.hex(s.module_offset);
                if let Some((name, offset)) = s.name {
                    w.s(" ");
                    cut(w, name);
                    w.s("+");
                    w.hex(offset);
                }
            }
        })
    }
}

/// Writes the heap profile to descriptor `fd` (`SACS_PROFILE=1` at exit, `malloc_stats()`).
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn print(fd: i32) {
    let mut buf = [0u8; REPORT_BYTES];
    let n = write_report(&mut buf);
    platform::write_fd(fd, &buf[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_what_it_shows_and_fits() {
        let mut buf = std::vec![0u8; REPORT_BYTES];
        let n = write_report(&mut buf);
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("sacs heap profile: "));
        assert!(text.contains("top sites by live bytes"));
        assert!(text.contains("top sites by fragmentation cost"));
        // A code address is named by its module (this test program), an unknown one by itself.
        let name = |site: usize| {
            let mut buf = [0u8; 256];
            let mut w = Writer::new(&mut buf);
            write_site(&mut w, site);
            let n = w.len;
            std::string::String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let here = name(write_site as *const () as usize + 4);
        assert!(here.contains("+0x") && !here.starts_with("0x"), "{here}");
        assert_eq!(name(0x1000), "0x1000");
    }
}

//! Resident blocks' memory: fixed-size frames of f32 carved out of 2 MiB regions obtained from
//! SACS's large-page tier (`sacs::large_pages`), the field's hot tier.
//!
//! A frame holds one block's features. Frames are numbered; frame `i` lives in region
//! `i / frames_per_region` at offset `(i % frames_per_region) × frame_bytes`. Frames are not
//! freed one by one (the tiers reuse a frame for the block that replaces its own); the regions
//! go back to SACS (its whale ring) when the pool is dropped. Since session 21 the regions are
//! made a few ahead, their pages written, on a thread of their own (`regions`), within the
//! most regions the pool may hold.

use std::io;
use std::ptr::NonNull;

use sacs::large_pages::{self, LARGE_PAGE};

use crate::regions::{RegionMaker, REGIONS_AHEAD};

/// The number of a frame in a [`HotFrames`] pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameId(u32);

/// A pool of equal frames of f32 in 2 MiB regions from SACS.
pub struct HotFrames {
    floats_per_frame: usize,
    frames_per_region: usize,
    /// Each region is `LARGE_PAGE` bytes, obtained from `large_pages::obtain`, owned here.
    regions: Vec<NonNull<f32>>,
    /// Frames numbered below this have been handed out at least once.
    next_fresh: u32,
    /// The most regions the pool may hold (those in use, and those made ahead).
    max_regions: usize,
    /// Regions made ahead.
    maker: RegionMaker,
}

// SAFETY: the regions are owned by the pool alone (no other pointer to them escapes except
// through borrows of the pool), and SACS's large-page API may be called from any thread.
unsafe impl Send for HotFrames {}

impl HotFrames {
    /// A pool of at most `max_frames` frames of `floats_per_frame` f32 each (at most 2 MiB
    /// per frame).
    pub fn new(floats_per_frame: usize, max_frames: usize) -> HotFrames {
        let frame_bytes = floats_per_frame * 4;
        assert!(
            frame_bytes > 0 && frame_bytes <= LARGE_PAGE,
            "frame of {frame_bytes} bytes"
        );
        let frames_per_region = LARGE_PAGE / frame_bytes;
        HotFrames {
            floats_per_frame,
            frames_per_region,
            regions: Vec::new(),
            next_fresh: 0,
            max_regions: max_frames.div_ceil(frames_per_region),
            maker: RegionMaker::default(),
        }
    }

    /// A new frame, with unspecified contents. Fails only when SACS has no memory left.
    pub fn alloc(&mut self) -> io::Result<FrameId> {
        let id = self.next_fresh as usize;
        if id / self.frames_per_region == self.regions.len() {
            let region = match self.maker.take() {
                Some(made) => made,
                None => NonNull::new(large_pages::obtain(LARGE_PAGE))
                    .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?,
            };
            self.regions.push(region.cast::<f32>());
            // The regions the pool may still obtain, made ahead up to REGIONS_AHEAD.
            let room = self.max_regions.saturating_sub(self.regions.len());
            self.maker.keep_ready(room.min(REGIONS_AHEAD));
        }
        self.next_fresh += 1;
        Ok(FrameId(id as u32))
    }

    fn frame_ptr(&self, id: FrameId) -> *mut f32 {
        let i = id.0 as usize;
        assert!(
            i < self.next_fresh as usize,
            "frame {i} was never allocated"
        );
        let region = self.regions[i / self.frames_per_region];
        // SAFETY: `(i % frames_per_region) × floats_per_frame` floats from the region's start
        // stays within its LARGE_PAGE bytes (frames_per_region × frame_bytes ≤ LARGE_PAGE).
        unsafe {
            region
                .as_ptr()
                .add((i % self.frames_per_region) * self.floats_per_frame)
        }
    }

    /// The floats of a frame.
    pub fn frame(&self, id: FrameId) -> &[f32] {
        // SAFETY: the frame lies inside a live region of this pool (see `frame_ptr`), frames
        // do not overlap, and the returned borrow of `self` excludes any `frame_mut` meanwhile.
        // Region memory is initialised (SACS regions are mapped memory; f32 has no invalid
        // bit patterns).
        unsafe { std::slice::from_raw_parts(self.frame_ptr(id), self.floats_per_frame) }
    }

    /// The floats of a frame, for writing.
    pub fn frame_mut(&mut self, id: FrameId) -> &mut [f32] {
        // SAFETY: as in `frame`; the mutable borrow of `self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.frame_ptr(id), self.floats_per_frame) }
    }

    /// Bytes of regions held (2 MiB each): in use, and made ahead.
    pub fn region_bytes(&self) -> usize {
        (self.regions.len() + self.maker.held()) * LARGE_PAGE
    }
}

impl Drop for HotFrames {
    fn drop(&mut self) {
        for region in self.regions.drain(..) {
            // SAFETY: each region came from `obtain(LARGE_PAGE)` and no frame borrow outlives
            // the pool.
            unsafe { large_pages::release(region.as_ptr().cast(), LARGE_PAGE) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_disjoint_aligned_and_span_regions() {
        let floats = 16 * 1024; // 64 KiB frames: 32 per region
        let mut pool = HotFrames::new(floats, 64);
        let ids: Vec<FrameId> = (0..40).map(|_| pool.alloc().unwrap()).collect();
        assert_eq!(pool.region_bytes(), 2 * LARGE_PAGE);
        for (k, &id) in ids.iter().enumerate() {
            pool.frame_mut(id).fill(k as f32);
        }
        for (k, &id) in ids.iter().enumerate() {
            assert!(
                pool.frame(id).iter().all(|&v| v == k as f32),
                "frame {k} overwritten"
            );
            assert_eq!(pool.frame(id).as_ptr() as usize % 4096, 0);
        }
        // At most 64 frames: two regions, none made beyond them.
        assert_eq!(pool.region_bytes(), 2 * LARGE_PAGE);
    }
}

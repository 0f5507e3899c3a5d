//! The incremental [`SseParser`].

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use memchr::{memchr, memchr2};

use super::{Frame, SseError};

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";
/// Default for [`ParserConfig::max_event_bytes`]: 64 MiB.
const DEFAULT_MAX_EVENT_BYTES: usize = 64 << 20;
/// Initial capacity of the input buffer.
const MIN_CAPACITY: usize = 16 << 10;

/// The field of a line.
#[derive(Clone, Copy)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
    Other,
}

/// Limits of an [`SseParser`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParserConfig {
    /// Largest accepted event, in bytes: the sum of its lines (each line
    /// counted with one byte of line end, comments and unknown fields
    /// included). A single unterminated line longer than this is rejected as
    /// soon as it is seen. Larger events are reported once as
    /// [`SseError::EventTooLarge`] and skipped up to the next blank line.
    /// Default: 64 MiB.
    pub max_event_bytes: usize,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// Incremental, push-based parser of a `text/event-stream` body.
///
/// Feed bytes with [`push`](Self::push) in chunks of any size, then call
/// [`next_frame`](Self::next_frame) until it returns `None`; at the end of
/// the input call [`finish`](Self::finish). The work done is linear in the
/// input whatever the chunking: each byte is scanned for a line end once, and
/// the data of single-line events is handed out without copying.
///
/// See the [module documentation](super) for the rules and an example.
#[derive(Debug)]
pub struct SseParser {
    config: ParserConfig,
    /// Unconsumed input; `buf[0]` is at absolute offset `base`.
    buf: BytesMut,
    base: u64,
    /// Total bytes pushed.
    total: u64,
    /// `buf[..scan_pos]` is known to contain no CR or LF.
    scan_pos: usize,
    /// The last line ended with a CR at the end of the buffer: skip one LF.
    skip_lf: bool,
    /// The start of the stream was checked for a BOM.
    bom_done: bool,
    /// Skipping an oversized event up to the next blank line.
    discarding: bool,
    /// (Only while discarding.) The start of the current line was dropped.
    mid_line: bool,
    finished: bool,

    // The event being built.
    event_start: Option<u64>,
    event_bytes: usize,
    event_type: Option<Bytes>,
    data_lines: usize,
    /// The data when `data_lines == 1` (zero-copy slice of the input).
    data_first: Bytes,
    /// The joined data when `data_lines >= 2`.
    data_buf: BytesMut,
    id: Option<Bytes>,
    retry: Option<Duration>,

    next_index: u64,
    /// Bytes examined by the line-end search (to test linearity).
    #[cfg(test)]
    scanned: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the default [`ParserConfig`].
    pub fn new() -> Self {
        Self::with_config(ParserConfig::default())
    }

    /// A parser with the given limits.
    pub fn with_config(config: ParserConfig) -> Self {
        SseParser {
            config,
            buf: BytesMut::new(),
            base: 0,
            total: 0,
            scan_pos: 0,
            skip_lf: false,
            bom_done: false,
            discarding: false,
            mid_line: false,
            finished: false,
            event_start: None,
            event_bytes: 0,
            event_type: None,
            data_lines: 0,
            data_first: Bytes::new(),
            data_buf: BytesMut::new(),
            id: None,
            retry: None,
            next_index: 0,
            #[cfg(test)]
            scanned: 0,
        }
    }

    /// Forget all state and start a new stream (a BOM is skipped again,
    /// offsets and indexes restart at 0). The configuration is kept.
    pub fn reset(&mut self) {
        *self = Self::with_config(self.config);
    }

    /// Total number of bytes pushed so far (a BOM included).
    pub fn bytes_consumed(&self) -> u64 {
        self.total
    }

    /// Feed bytes.
    ///
    /// Cheap: the chunk is appended to an internal buffer that holds only
    /// input not yet consumed; no parsing happens here. Call
    /// [`next_frame`](Self::next_frame) until it returns `None` after each
    /// push (the size limit is enforced there). Bytes pushed after
    /// [`finish`](Self::finish) are ignored until [`reset`](Self::reset).
    pub fn push(&mut self, chunk: &[u8]) {
        if self.finished || chunk.is_empty() {
            return;
        }
        self.total += chunk.len() as u64;
        if self.buf.capacity() == 0 {
            self.buf.reserve(chunk.len().max(MIN_CAPACITY));
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if any.
    ///
    /// Returns `Some(Ok(frame))` for each dispatched event, `Some(Err(..))`
    /// for an event that could not be delivered (parsing continues with the
    /// next event), and `None` when more input is needed. Call it repeatedly
    /// until `None` after each [`push`](Self::push).
    pub fn next_frame(&mut self) -> Option<Result<Frame, SseError>> {
        if self.finished || (!self.bom_done && !self.check_bom()) {
            return None;
        }
        loop {
            if self.skip_lf {
                match self.buf.first() {
                    None => return None,
                    Some(&b'\n') => self.consume(1),
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let hay = &self.buf[self.scan_pos..];
            match memchr2(b'\n', b'\r', hay) {
                None => {
                    #[cfg(test)]
                    {
                        self.scanned += hay.len() as u64;
                    }
                    self.scan_pos = self.buf.len();
                    return self.partial_line();
                }
                Some(i) => {
                    #[cfg(test)]
                    {
                        self.scanned += i as u64 + 1;
                    }
                    let end = self.scan_pos + i;
                    self.scan_pos = 0;
                    let term_len = if self.buf[end] == b'\r' {
                        match self.buf.get(end + 1) {
                            Some(&b'\n') => 2,
                            Some(_) => 1,
                            None => {
                                self.skip_lf = true;
                                1
                            }
                        }
                    } else {
                        1
                    };
                    if let Some(r) = self.line(end, term_len) {
                        return Some(r);
                    }
                }
            }
        }
    }

    /// Signal the end of the input.
    ///
    /// A pending last line without a line end is processed as a line. The
    /// unterminated final event is then returned only when its event type is
    /// `error` (servers end a stream with `event: error\ndata: {..}\n` and no
    /// blank line); any other unterminated event is discarded, as the WHATWG
    /// rules say, and `None` is returned.
    ///
    /// If complete events are still buffered (because
    /// [`next_frame`](Self::next_frame) was not called until `None`), they are
    /// returned first, one per call: call `finish` until it returns `None` in
    /// that case. Once it has returned `None` it keeps doing so; the parser
    /// can then be [`reset`](Self::reset) or dropped.
    pub fn finish(&mut self) -> Option<Result<Frame, SseError>> {
        if self.finished {
            return None;
        }
        if let Some(r) = self.next_frame() {
            return Some(r);
        }
        self.finished = true;
        // An incomplete BOM at the end of the input is ordinary bytes; it
        // holds no line end, so it is the pending partial line.
        self.bom_done = true;
        self.skip_lf = false;
        let end = self.buf.len();
        if !self.discarding && end > 0 && self.line(end, 0).is_some() {
            // The final line made the event too large: it is dropped anyway.
            self.reset_event();
            return None;
        }
        let is_error = self.event_type.as_deref() == Some(b"error".as_slice());
        if !self.discarding && self.data_lines > 0 && is_error {
            return self.dispatch();
        }
        self.reset_event();
        None
    }

    /// Skip a UTF-8 BOM at the very start. Returns `false` while the input
    /// is a strict prefix of the BOM (need more bytes).
    fn check_bom(&mut self) -> bool {
        let n = self.buf.len().min(3);
        if self.buf[..n] != BOM[..n] {
            self.bom_done = true;
            return true;
        }
        if n < 3 {
            return false;
        }
        self.consume(3);
        self.bom_done = true;
        true
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.base += n as u64;
    }

    fn reset_event(&mut self) {
        self.event_start = None;
        self.event_bytes = 0;
        self.event_type = None;
        self.data_lines = 0;
        self.data_first = Bytes::new();
        self.data_buf.clear();
        self.id = None;
        self.retry = None;
    }

    fn take_index(&mut self) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Reject the current event as too large and skip to the next blank line.
    fn too_large(&mut self) -> SseError {
        let offset = self.event_start.unwrap_or(self.base);
        self.reset_event();
        self.discarding = true;
        self.take_index();
        SseError::EventTooLarge {
            offset,
            limit: self.config.max_event_bytes,
        }
    }

    /// No line end in the buffer: the buffer holds (the rest of) one line.
    fn partial_line(&mut self) -> Option<Result<Frame, SseError>> {
        let len = self.buf.len();
        if self.discarding {
            if len > 0 {
                self.consume(len);
                self.scan_pos = 0;
                self.mid_line = true;
            }
            return None;
        }
        if self.event_bytes.saturating_add(len) > self.config.max_event_bytes {
            let err = self.too_large();
            self.consume(len);
            self.scan_pos = 0;
            self.mid_line = true;
            return Some(Err(err));
        }
        None
    }

    /// Process the line `buf[..end]` followed by `term_len` bytes of line end.
    fn line(&mut self, end: usize, term_len: usize) -> Option<Result<Frame, SseError>> {
        if self.discarding {
            let blank = end == 0 && !self.mid_line;
            self.mid_line = false;
            self.consume(end + term_len);
            if blank {
                self.discarding = false;
            }
            return None;
        }
        if end == 0 {
            self.consume(term_len);
            return self.dispatch();
        }
        if self.event_start.is_none() {
            self.event_start = Some(self.base);
        }
        if self.event_bytes.saturating_add(end + 1) > self.config.max_event_bytes {
            let err = self.too_large();
            self.consume(end + term_len);
            return Some(Err(err));
        }
        self.event_bytes += end + 1;

        let line = &self.buf[..end];
        if line[0] == b':' {
            self.consume(end + term_len);
            return None;
        }
        let (name_end, value_start) = match memchr(b':', line) {
            Some(c) => (
                c,
                if line.get(c + 1) == Some(&b' ') {
                    c + 2
                } else {
                    c + 1
                },
            ),
            None => (end, end),
        };
        let field = match &line[..name_end] {
            b"data" => Field::Data,
            b"event" => Field::Event,
            b"id" => Field::Id,
            b"retry" => Field::Retry,
            _ => Field::Other,
        };
        match field {
            Field::Data => {
                match self.data_lines {
                    0 => {
                        self.data_first = self.split_value(value_start, end, term_len);
                    }
                    1 => {
                        let first = std::mem::take(&mut self.data_first);
                        self.data_buf.clear();
                        self.data_buf.reserve(first.len() + 1 + (end - value_start));
                        self.data_buf.extend_from_slice(&first);
                        self.data_buf.put_u8(b'\n');
                        self.data_buf.extend_from_slice(&self.buf[value_start..end]);
                        self.consume(end + term_len);
                    }
                    _ => {
                        self.data_buf.put_u8(b'\n');
                        self.data_buf.extend_from_slice(&self.buf[value_start..end]);
                        self.consume(end + term_len);
                    }
                }
                self.data_lines += 1;
            }
            Field::Event => {
                self.event_type = if value_start >= end {
                    self.consume(end + term_len);
                    None
                } else {
                    Some(self.split_value(value_start, end, term_len))
                };
            }
            Field::Id => {
                let value = &self.buf[value_start.min(end)..end];
                if memchr(0, value).is_none() {
                    self.id = Some(Bytes::copy_from_slice(value));
                }
                self.consume(end + term_len);
            }
            Field::Retry => {
                let value = &self.buf[value_start.min(end)..end];
                if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
                    // All ASCII digits, so `from_utf8` cannot fail; values too
                    // large for u64 are ignored.
                    if let Some(ms) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                        self.retry = Some(Duration::from_millis(ms));
                    }
                }
                self.consume(end + term_len);
            }
            Field::Other => self.consume(end + term_len),
        }
        None
    }

    /// Consume the line `buf[..end]` + line end, returning `buf[start..end]`
    /// without copying.
    #[inline]
    fn split_value(&mut self, start: usize, end: usize, term_len: usize) -> Bytes {
        let start = start.min(end);
        self.buf.advance(start);
        let value = self.buf.split_to(end - start).freeze();
        self.buf.advance(term_len);
        self.base += (end + term_len) as u64;
        value
    }

    /// A blank line: dispatch the event if it has data, and reset.
    fn dispatch(&mut self) -> Option<Result<Frame, SseError>> {
        if self.data_lines == 0 {
            self.reset_event();
            return None;
        }
        let offset = self.event_start.unwrap_or(self.base);
        let data = if self.data_lines == 1 {
            std::mem::take(&mut self.data_first)
        } else {
            self.data_buf.split().freeze()
        };
        let event = self.event_type.take();
        let id = self.id.take();
        let retry = self.retry.take();
        self.reset_event();
        let index = self.take_index();

        let invalid = match std::str::from_utf8(&data) {
            Err(e) => Some(e.valid_up_to()),
            Ok(_) => event
                .as_ref()
                .and_then(|ev| std::str::from_utf8(ev).err())
                .map(|e| e.valid_up_to()),
        };
        if let Some(valid_up_to) = invalid {
            return Some(Err(SseError::InvalidUtf8 {
                offset,
                index,
                valid_up_to,
                event: event.map(|ev| String::from_utf8_lossy(&ev).into_owned()),
            }));
        }
        let id = id.map(|id| match std::str::from_utf8(&id) {
            Ok(_) => id,
            Err(_) => Bytes::from(String::from_utf8_lossy(&id).into_owned()),
        });
        Some(Ok(Frame::from_parts(event, data, id, retry, offset, index)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Item = Result<Frame, SseError>;

    /// Push `input` in chunks of the given sizes (cycled), draining after
    /// each push, then `finish` until `None`.
    fn parse_chunked_with(config: ParserConfig, input: &[u8], sizes: &[usize]) -> Vec<Item> {
        let mut p = SseParser::with_config(config);
        let mut out = Vec::new();
        let mut rest = input;
        let mut k = 0;
        while !rest.is_empty() {
            let n = sizes[k % sizes.len()].clamp(1, rest.len());
            k += 1;
            p.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(item) = p.next_frame() {
                out.push(item);
            }
        }
        assert_eq!(p.bytes_consumed(), input.len() as u64);
        while let Some(item) = p.finish() {
            out.push(item);
        }
        assert!(p.finish().is_none());
        assert!(p.next_frame().is_none());
        out
    }

    fn parse_chunked(input: &[u8], sizes: &[usize]) -> Vec<Item> {
        parse_chunked_with(ParserConfig::default(), input, sizes)
    }

    fn parse(input: &[u8]) -> Vec<Item> {
        parse_chunked(input, &[usize::MAX])
    }

    /// `(event, data)` of each item; errors become `("ERR", debug)`.
    fn pairs(items: &[Item]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|it| match it {
                Ok(f) => (f.event().to_owned(), f.data().to_owned()),
                Err(e) => ("ERR".to_owned(), format!("{e:?}")),
            })
            .collect()
    }

    fn ok(items: &[Item]) -> Vec<(&str, &str)> {
        items
            .iter()
            .map(|it| {
                let f = it.as_ref().expect("no error");
                (f.event(), f.data())
            })
            .collect()
    }

    fn frames(items: Vec<Item>) -> Vec<Frame> {
        items.into_iter().map(|it| it.expect("no error")).collect()
    }

    // ---------------------------------------------------------------- BOM

    #[test]
    fn bom_is_skipped() {
        let out = parse(b"\xEF\xBB\xBFdata: a\n\n");
        assert_eq!(ok(&out), [("message", "a")]);
        assert_eq!(out[0].as_ref().unwrap().offset(), 3);
    }

    #[test]
    fn bom_split_one_byte_at_a_time() {
        let input = b"\xEF\xBB\xBFevent: e\ndata: a\n\n";
        let out = parse_chunked(input, &[1]);
        assert_eq!(ok(&out), [("e", "a")]);
        assert_eq!(out, parse(input));
        let mut p = SseParser::new();
        for b in b"\xEF\xBB\xBF" {
            p.push(&[*b]);
            assert!(p.next_frame().is_none());
        }
        p.push(b"data: x\n\n");
        assert_eq!(p.next_frame().unwrap().unwrap().data(), "x");
    }

    #[test]
    fn bom_only_at_start() {
        // A second BOM is part of the first line: field name "\u{feff}data".
        let out = parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n");
        assert_eq!(ok(&out), [("message", "b")]);
        // A BOM later in the stream is data.
        let out = parse(b"data: a\n\ndata: \xEF\xBB\xBFb\n\n");
        assert_eq!(ok(&out), [("message", "a"), ("message", "\u{feff}b")]);
    }

    #[test]
    fn partial_bom_then_other_bytes() {
        // "\xEF" + "data" is the field name "\xEFdata": unknown field, nothing dispatched.
        assert!(parse_chunked(b"\xEFdata: a\n\n", &[1]).is_empty());
        let out = parse(b"\xEF\xBBdata: a\n\ndata: b\n\n");
        assert_eq!(ok(&out), [("message", "b")]);
        // Only part of a BOM at EOF: no panic, nothing dispatched.
        assert!(parse(b"\xEF\xBB").is_empty());
        assert!(parse_chunked(b"\xEF\xBB", &[1]).is_empty());
    }

    // -------------------------------------------------------- line ends

    #[test]
    fn lf_cr_crlf_line_ends() {
        for input in [
            &b"event: e\ndata: a\ndata: b\n\n"[..],
            b"event: e\rdata: a\rdata: b\r\r",
            b"event: e\r\ndata: a\r\ndata: b\r\n\r\n",
        ] {
            let out = parse(input);
            assert_eq!(ok(&out), [("e", "a\nb")], "{input:?}");
            assert_eq!(out, parse_chunked(input, &[1]));
        }
    }

    #[test]
    fn mixed_line_ends() {
        let input = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r\n:c\n\ndata: e\n\r";
        let out = parse(input);
        assert_eq!(
            ok(&out),
            [("message", "a\nb\nc"), ("message", "d"), ("message", "e")]
        );
    }

    #[test]
    fn crlf_split_across_pushes_is_one_line_end() {
        let mut p = SseParser::new();
        p.push(b"data: a\r");
        assert!(p.next_frame().is_none());
        p.push(b"\ndata: b\r");
        assert!(p.next_frame().is_none());
        // LF completes the CRLF, then a lone CR is the blank line.
        p.push(b"\n\r");
        let f = p.next_frame().unwrap().unwrap();
        assert_eq!(f.data(), "a\nb");
        assert!(p.next_frame().is_none());
        // This LF belongs to the CR above: not another (empty) line.
        p.push(b"\n");
        assert!(p.next_frame().is_none());
        p.push(b"data: x\n\n");
        let f = p.next_frame().unwrap().unwrap();
        assert_eq!((f.data(), f.offset()), ("x", 20));
        // CR at the end of a chunk followed by a chunk not starting with LF.
        p.push(b"data: c\r");
        assert!(p.next_frame().is_none());
        p.push(b"\r");
        assert_eq!(p.next_frame().unwrap().unwrap().data(), "c");
    }

    #[test]
    fn cr_then_empty_pushes() {
        let mut p = SseParser::new();
        p.push(b"data: a\r");
        assert!(p.next_frame().is_none());
        p.push(b"");
        assert!(p.next_frame().is_none());
        p.push(b"\n");
        assert!(p.next_frame().is_none());
        p.push(b"\n");
        assert_eq!(p.next_frame().unwrap().unwrap().data(), "a");
    }

    // ------------------------------------------------------------ fields

    #[test]
    fn comments_are_ignored() {
        let out = parse(b": keep-alive\n\n:\n\ndata: a\n: inside\ndata: b\n\n:x");
        assert_eq!(ok(&out), [("message", "a\nb")]);
    }

    #[test]
    fn multi_line_data() {
        let out = parse(b"data: {\ndata:  \"a\": 1\ndata\ndata: }\n\n");
        assert_eq!(ok(&out), [("message", "{\n \"a\": 1\n\n}")]);
    }

    #[test]
    fn data_without_colon_is_empty_value() {
        let out = parse(b"data\n\n");
        assert_eq!(ok(&out), [("message", "")]);
        let out = parse(b"data\ndata\n\n");
        assert_eq!(ok(&out), [("message", "\n")]);
    }

    #[test]
    fn value_space_rules() {
        let out = parse(b"data:no-space\n\ndata:  two\n\ndata: \n\ndata:\n\ndata:\t tab\n\n");
        assert_eq!(
            ok(&out),
            [
                ("message", "no-space"),
                ("message", " two"),
                ("message", ""),
                ("message", ""),
                ("message", "\t tab"),
            ]
        );
        let out = parse(b"event:x\ndata:1\n\nevent:  y\ndata:2\n\n");
        assert_eq!(ok(&out), [("x", "1"), (" y", "2")]);
    }

    #[test]
    fn colon_in_value_is_kept() {
        let out = parse(b"data: {\"a\":\"b:c\"}\n\n");
        assert_eq!(ok(&out), [("message", "{\"a\":\"b:c\"}")]);
    }

    #[test]
    fn id_field() {
        let f = frames(parse(b"id: 42\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"));
        assert_eq!(f[0].id(), Some("42"));
        assert_eq!(f[1].id(), None);
        assert_eq!(f[2].id(), Some(""));
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let f = frames(parse(b"id: 1\nid: a\0b\ndata: x\n\nid: \0\ndata: y\n\n"));
        assert_eq!(f[0].id(), Some("1"));
        assert_eq!(f[1].id(), None);
    }

    #[test]
    fn retry_field() {
        let f = frames(parse(
            b"retry: 1500\ndata: a\n\nretry: 15a\ndata: b\n\nretry: -1\ndata: c\n\nretry:\ndata: d\n\n\
              retry: 99999999999999999999999\ndata: e\n\nretry:250\nretry: x\ndata: f\n\n",
        ));
        assert_eq!(f[0].retry(), Some(Duration::from_millis(1500)));
        assert_eq!(f[1].retry(), None);
        assert_eq!(f[2].retry(), None);
        assert_eq!(f[3].retry(), None);
        assert_eq!(f[4].retry(), None);
        assert_eq!(f[5].retry(), Some(Duration::from_millis(250)));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let out = parse(b"foo: bar\nDATA: no\nEvent: no\ndata: a\nx\n: c\n\n");
        assert_eq!(ok(&out), [("message", "a")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let out = parse(b"event: ping\n\n...\n\nid: 3\nretry: 10\n\n\n\n\ndata: a\n\n");
        let f = frames(out);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].event(), f[0].data(), f[0].id(), f[0].retry()),
            ("message", "a", None, None)
        );
        assert_eq!(f[0].index(), 0);
    }

    #[test]
    fn event_name_resets_after_blank_line() {
        let out = parse(b"event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n");
        assert_eq!(ok(&out), [("a", "1"), ("message", "2"), ("message", "3")]);
    }

    #[test]
    fn event_default_and_empty_event_field() {
        let f = frames(parse(b"data: a\n\nevent:\ndata: b\n\nevent: x\nevent:\ndata: c\n\nevent: e1\nevent: e2\ndata: d\n\n"));
        assert_eq!(f[0].event(), "message");
        assert!(!f[0].has_event_field());
        assert_eq!(f[1].event(), "message");
        assert!(!f[1].has_event_field());
        assert_eq!(f[2].event(), "message");
        assert_eq!(f[3].event(), "e2");
        assert!(f[3].has_event_field());
    }

    #[test]
    fn done_data() {
        let out = parse(b"event: thread.run.completed\ndata: {}\n\nevent: done\ndata: [DONE]\n\n");
        assert_eq!(
            ok(&out),
            [("thread.run.completed", "{}"), ("done", "[DONE]")]
        );
        // OpenAI-style `[DONE]` without event and without a final blank line is dropped.
        let out = parse(b"data: {}\n\ndata: [DONE]\n");
        assert_eq!(ok(&out), [("message", "{}")]);
        let out = parse(b"data: [DONE]\n\n");
        assert_eq!(ok(&out), [("message", "[DONE]")]);
    }

    // ------------------------------------------------------- end of input

    #[test]
    fn unterminated_final_event_is_discarded() {
        assert!(parse(b"data: a\n").is_empty());
        assert!(parse(b"event: x\ndata: a").is_empty());
        assert!(parse(b"data: a\r").is_empty());
        let mut p = SseParser::new();
        p.push(b"data: a\n\ndata: b\n");
        assert_eq!(p.next_frame().unwrap().unwrap().data(), "a");
        assert!(p.next_frame().is_none());
        assert!(p.finish().is_none());
        assert!(p.finish().is_none());
    }

    #[test]
    fn unterminated_error_event_is_returned_by_finish() {
        let tail = b"event: error\ndata: {\"error\":{\"message\":\"x\"}}\n";
        let mut p = SseParser::new();
        p.push(b"event: thread.message.delta\ndata: {}\n\n");
        p.push(tail);
        let first = p.next_frame().unwrap().unwrap();
        assert_eq!(first.event(), "thread.message.delta");
        assert!(p.next_frame().is_none());
        let f = p.finish().unwrap().unwrap();
        assert_eq!(f.event(), "error");
        assert_eq!(f.data(), "{\"error\":{\"message\":\"x\"}}");
        assert_eq!(f.offset(), 38);
        assert_eq!(f.index(), 1);
        assert!(p.finish().is_none());
        // Without the final newline, the pending line is processed at EOF.
        let out = parse(b"event: error\ndata: {\"e\":1}");
        assert_eq!(ok(&out), [("error", "{\"e\":1}")]);
        let out = parse(b"event: error\r\ndata: x\r");
        assert_eq!(ok(&out), [("error", "x")]);
        // An `error` event without data is not dispatched.
        assert!(parse(b"event: error\n").is_empty());
        // Same bytes pushed one at a time.
        assert_eq!(parse_chunked(tail, &[1]), parse(tail));
        assert_eq!(
            ok(&parse(tail)),
            [("error", "{\"error\":{\"message\":\"x\"}}")]
        );
    }

    #[test]
    fn finish_returns_buffered_events_first() {
        let mut p = SseParser::new();
        p.push(b"data: a\n\ndata: b\n\nevent: error\ndata: c");
        let got: Vec<_> = std::iter::from_fn(|| p.finish())
            .map(|r| r.unwrap().data().to_owned())
            .collect();
        assert_eq!(got, ["a", "b", "c"]);
    }

    #[test]
    fn reset_and_push_after_finish() {
        let mut p = SseParser::new();
        p.push(b"data: a\n\n");
        assert!(p.finish().is_some());
        assert!(p.finish().is_none());
        p.push(b"data: ignored\n\n");
        assert!(p.next_frame().is_none());
        p.reset();
        p.push(b"\xEF\xBB\xBFdata: b\n\n");
        let f = p.next_frame().unwrap().unwrap();
        assert_eq!((f.data(), f.offset(), f.index()), ("b", 3, 0));
        assert_eq!(p.bytes_consumed(), 12);
    }

    // ------------------------------------------------------------ errors

    #[test]
    fn invalid_utf8_event_then_good_event() {
        let input = b"event: bad\ndata: ab\xFFcd\n\ndata: good\n\n";
        let out = parse(input);
        assert_eq!(out.len(), 2);
        match &out[0] {
            Err(SseError::InvalidUtf8 {
                offset,
                index,
                valid_up_to,
                event,
            }) => {
                assert_eq!((*offset, *index, *valid_up_to), (0, 0, 2));
                assert_eq!(event.as_deref(), Some("bad"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = out[0].as_ref().unwrap_err().to_string();
        assert!(
            msg.contains("bad") && msg.contains("offset 0") && msg.contains("byte 2"),
            "{msg}"
        );
        let good = out[1].as_ref().unwrap();
        assert_eq!((good.data(), good.index(), good.offset()), ("good", 1, 24));
        assert_eq!(out, parse_chunked(input, &[1]));
    }

    #[test]
    fn invalid_utf8_in_multiline_data_and_event_name() {
        let out = parse(b"data: ok\ndata: \xC3\n\nevent: \xFFx\ndata: y\n\nid: \xFF\ndata: z\n\n");
        assert!(matches!(
            &out[0],
            Err(SseError::InvalidUtf8 {
                valid_up_to: 3,
                event: None,
                index: 0,
                ..
            })
        ));
        match &out[1] {
            Err(SseError::InvalidUtf8 {
                valid_up_to: 0,
                event: Some(ev),
                index: 1,
                ..
            }) => {
                assert_eq!(ev, "\u{fffd}x")
            }
            other => panic!("unexpected {other:?}"),
        }
        // An invalid id is decoded lossily rather than failing the event.
        let f = out[2].as_ref().unwrap();
        assert_eq!((f.data(), f.id(), f.index()), ("z", Some("\u{fffd}"), 2));
    }

    #[test]
    fn event_too_large() {
        let config = ParserConfig {
            max_event_bytes: 16,
        };
        let input = b"data: 0123456789\ndata: more\n\ndata: ok\n\ndata: 0123456789abcdef\nevent: x\n\ndata: fine\n\n";
        let out = parse_chunked_with(config, input, &[usize::MAX]);
        assert_eq!(out.len(), 4, "{out:?}");
        assert!(matches!(
            out[0],
            Err(SseError::EventTooLarge {
                offset: 0,
                limit: 16
            })
        ));
        assert_eq!(out[1].as_ref().unwrap().data(), "ok");
        assert_eq!(out[1].as_ref().unwrap().index(), 1);
        assert!(matches!(
            out[2],
            Err(SseError::EventTooLarge {
                offset: 39,
                limit: 16
            })
        ));
        assert_eq!(out[3].as_ref().unwrap().data(), "fine");
        assert_eq!(out[3].as_ref().unwrap().index(), 3);
        assert!(
            out[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
        for sizes in [&[1usize][..], &[2], &[3, 5, 7], &[16], &[17]] {
            assert_eq!(parse_chunked_with(config, input, sizes), out, "{sizes:?}");
        }
    }

    #[test]
    fn unterminated_line_too_large_is_dropped_early() {
        let config = ParserConfig {
            max_event_bytes: 1024,
        };
        let mut p = SseParser::with_config(config);
        p.push(b"data: ");
        assert!(p.next_frame().is_none());
        let chunk = [b'x'; 100];
        let mut errors = 0;
        for _ in 0..1000 {
            p.push(&chunk);
            while let Some(r) = p.next_frame() {
                assert!(matches!(
                    r,
                    Err(SseError::EventTooLarge {
                        offset: 0,
                        limit: 1024
                    })
                ));
                errors += 1;
            }
            // Never holds more than the limit plus one chunk.
            assert!(p.buf.len() <= 1024 + chunk.len());
            assert!(p.buf.capacity() <= 2 * (1024 + chunk.len()) + MIN_CAPACITY);
        }
        assert_eq!(errors, 1);
        p.push(b"\n\ndata: after\n\n");
        let f = p.next_frame().unwrap().unwrap();
        assert_eq!((f.data(), f.index(), f.offset()), ("after", 1, 100_008));
        assert!(p.next_frame().is_none());
    }

    #[test]
    fn too_large_error_at_eof_is_not_reported() {
        let config = ParserConfig { max_event_bytes: 8 };
        let mut p = SseParser::with_config(config);
        p.push(b"event: error\n");
        assert!(matches!(
            p.next_frame(),
            Some(Err(SseError::EventTooLarge { .. }))
        ));
        p.push(b"data: x");
        assert!(p.next_frame().is_none());
        assert!(p.finish().is_none());
    }

    // ------------------------------------------------- chunking invariance

    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"\xEF\xBB\xBF: hello\r\n\r\n");
        v.extend_from_slice(
            b"event: thread.created\r\ndata: {\"id\":\"thread_1\",\"object\":\"thread\"}\r\n\r\n",
        );
        v.extend_from_slice(b"event: thread.message.delta\ndata: {\"delta\":{\"content\":[{\"text\":\"h\xC3\xA9llo \xE3\x80\x90\"}]}}\n\n");
        v.extend_from_slice(b"id: 7\rretry: 3000\rdata: line1\rdata:line2\r\r");
        v.extend_from_slice(b"...\n\n: ping\n\nevent: bad\ndata: \xFF\n\n");
        v.extend_from_slice(b"event: thread.run.completed\ndata: {\"status\":\"completed\"}\n\n");
        v.extend_from_slice(b"event: done\ndata: [DONE]\n\n");
        v.extend_from_slice(b"event: error\ndata: {\"error\":{\"message\":\"x\"}}\n");
        v
    }

    #[test]
    fn sample_parses_as_expected() {
        let out = parse(&sample());
        assert_eq!(
            pairs(&out)
                .iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>(),
            [
                "thread.created",
                "thread.message.delta",
                "message",
                "ERR",
                "thread.run.completed",
                "done",
                "error"
            ]
        );
        let f: Vec<&Frame> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(f[0].offset(), 14);
        assert_eq!(
            f[1].data(),
            "{\"delta\":{\"content\":[{\"text\":\"héllo 【\"}]}}"
        );
        assert_eq!(
            (f[2].data(), f[2].id(), f[2].retry()),
            ("line1\nline2", Some("7"), Some(Duration::from_secs(3)))
        );
        let indexes: Vec<u64> = out
            .iter()
            .map(|r| match r {
                Ok(f) => f.index(),
                Err(SseError::InvalidUtf8 { index, .. }) => *index,
                Err(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(indexes, [0, 1, 2, 3, 4, 5, 6]);
        // Offsets point at the first line of each event.
        let input = sample();
        for fr in &f {
            let at = &input[fr.offset() as usize..];
            assert!(
                at.starts_with(b"event: ") || at.starts_with(b"id: "),
                "{:?}",
                fr
            );
        }
        assert!(input.len() > 250);
    }

    #[test]
    fn every_split_point_gives_identical_frames() {
        let input = sample();
        let expected = parse(&input);
        for s in 0..=input.len() {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            for part in [&input[..s], &input[s..]] {
                p.push(part);
                while let Some(item) = p.next_frame() {
                    out.push(item);
                }
            }
            while let Some(item) = p.finish() {
                out.push(item);
            }
            assert_eq!(out, expected, "split at {s}");
        }
    }

    #[test]
    fn one_byte_at_a_time_equals_one_shot() {
        let input = sample();
        assert_eq!(parse_chunked(&input, &[1]), parse(&input));
        assert_eq!(parse_chunked(&input, &[2, 3, 1, 7]), parse(&input));
    }

    /// Tiny deterministic LCG.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    #[test]
    fn fuzz_random_bytes_random_chunks() {
        const ALPHABET: &[u8] = b"data:event: \r\n:id\xff\xef\xbb\xbf{}retry0123\0";
        let mut rng = Lcg(0x5EED);
        for round in 0..400 {
            let len = (rng.next() % 300) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.next() as usize % ALPHABET.len()])
                .collect();
            let limit = if round % 4 == 0 {
                1 + (rng.next() % 40) as usize
            } else {
                DEFAULT_MAX_EVENT_BYTES
            };
            let config = ParserConfig {
                max_event_bytes: limit,
            };
            let expected = parse_chunked_with(config, &input, &[usize::MAX]);
            let sizes: Vec<usize> = (0..8).map(|_| 1 + (rng.next() % 9) as usize).collect();
            let got = parse_chunked_with(config, &input, &sizes);
            assert_eq!(
                got, expected,
                "round {round}, input {input:?}, sizes {sizes:?}"
            );
            // Indexes are consecutive.
            for (i, item) in got.iter().enumerate() {
                if let Ok(f) = item {
                    assert_eq!(f.index(), i as u64);
                }
            }
        }
    }

    // ---------------------------------------------------------- linearity

    fn big_line() -> Vec<u8> {
        let mut input = Vec::with_capacity(8 << 20);
        input.extend_from_slice(b"data: ");
        input.resize((8 << 20) - 2, b'x');
        input.extend_from_slice(b"\n\n");
        input
    }

    #[test]
    fn big_line_work_is_linear_whatever_the_chunking() {
        let input = big_line();
        for size in [1usize, 7, 1460, usize::MAX] {
            let mut p = SseParser::new();
            let mut frames = Vec::new();
            for chunk in input.chunks(size.min(input.len())) {
                p.push(chunk);
                while let Some(f) = p.next_frame() {
                    frames.push(f.unwrap());
                }
            }
            assert!(p.finish().is_none());
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].data().len(), input.len() - 8);
            assert!(
                p.scanned < 2 * input.len() as u64,
                "chunk {size}: scanned {}",
                p.scanned
            );
            assert!(p.scanned >= input.len() as u64 - 8);
        }
    }

    #[test]
    fn single_data_line_is_zero_copy() {
        let mut p = SseParser::new();
        p.push(b"event: e\ndata: abc\n\n");
        let f = p.next_frame().unwrap().unwrap();
        // The data points into the parser's own input buffer (shared, not copied).
        let ptr = f.data_bytes().as_ptr() as usize;
        let base = p.buf.as_ptr() as usize;
        assert!(ptr < base && base - ptr < 64, "data was copied");
    }
}

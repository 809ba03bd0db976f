// Raw RFC 5322 / MIME bytes to a `message` of UTF-8 values, with GMime. Pure: reads only the
// bytes handed in; knows nothing of leads, actors or storage.
#include <gmime/gmime.h>

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "domain/mail/message.hpp"
#include "domain/mail/text.hpp"

namespace flowtrack::domain::mail {

namespace {

// Deeper nesting than this is not mail a person sent; GMime's parser recurses per level.
constexpr std::size_t max_container_parts = 256;
constexpr int max_depth = 24;
constexpr std::size_t max_body_bytes = 8u * 1024u * 1024u;

void init_gmime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

struct unref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <class T>
using gobject_ptr = std::unique_ptr<T, unref>;

std::string text_of(const char* s) { return s ? repair_utf8(s) : std::string(); }

void add_mailboxes(InternetAddressList* list, std::vector<mailbox>& out, int depth = 0) {
  if (!list || depth > 4) return;
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n && out.size() < 512; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(a)) {
      add_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), out, depth + 1);
    } else if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      mailbox m;
      m.name = std::string(trim(text_of(internet_address_get_name(a))));
      m.address = std::string(trim(text_of(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)))));
      if (!m.address.empty() || !m.name.empty()) out.push_back(std::move(m));
    }
  }
}

/// The decoded (transfer encoding undone) content of a leaf part.
std::string decoded_content(GMimePart* part, std::uint64_t* size_only = nullptr) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (!content) return {};
  if (size_only) {
    gobject_ptr<GMimeStream> null(g_mime_stream_null_new());
    g_mime_data_wrapper_write_to_stream(content, null.get());
    *size_only = static_cast<std::uint64_t>(GMIME_STREAM_NULL(null.get())->written);
    return {};
  }
  gobject_ptr<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, mem.get());
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  if (!bytes) return {};
  const std::size_t n = bytes->len < max_body_bytes ? bytes->len : max_body_bytes;
  return std::string(reinterpret_cast<const char*>(bytes->data), n);
}

std::string mime_type(GMimeObject* object) {
  GMimeContentType* ct = g_mime_object_get_content_type(object);
  if (!ct) return "application/octet-stream";
  char* t = g_mime_content_type_get_mime_type(ct);
  std::string s = t ? ascii_lower(t) : std::string("application/octet-stream");
  g_free(t);
  return repair_utf8(s);
}

void append_text(std::string& to, std::string text) {
  if (text.empty()) return;
  if (!to.empty()) to += "\n\n";
  to += std::move(text);
}

message convert(GMimeMessage* msg, GMimeParserOptions* options, int depth);

void walk(GMimeObject* object, message& out, GMimeParserOptions* options, int depth) {
  if (!object || depth > max_depth) return;
  if (GMIME_IS_MULTIPART(object)) {
    GMimeMultipart* mp = GMIME_MULTIPART(object);
    const int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; ++i) walk(g_mime_multipart_get_part(mp, i), out, options, depth + 1);
    return;
  }
  if (GMIME_IS_MESSAGE_PART(object)) {
    GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
    attachment a;
    a.content_type = mime_type(object);
    a.file_name = text_of(g_mime_object_get_content_disposition_parameter(object, "filename"));
    if (inner) {
      gobject_ptr<GMimeStream> null(g_mime_stream_null_new());
      g_mime_object_write_to_stream(GMIME_OBJECT(inner), nullptr, null.get());
      a.size = static_cast<std::uint64_t>(GMIME_STREAM_NULL(null.get())->written);
      if (a.file_name.empty()) {
        const char* subject = g_mime_message_get_subject(inner);
        if (subject) a.file_name = text_of(subject) + ".eml";
      }
      out.attached_messages.push_back(convert(inner, options, depth + 1));
    }
    out.attachments.push_back(std::move(a));
    return;
  }
  if (!GMIME_IS_PART(object)) return;
  GMimePart* part = GMIME_PART(object);
  GMimeContentType* ct = g_mime_object_get_content_type(object);
  GMimeContentDisposition* cd = g_mime_object_get_content_disposition(object);
  const char* filename = g_mime_part_get_filename(part);
  const bool attached = (cd && g_mime_content_disposition_is_attachment(cd)) || (filename && *filename);
  const bool plain = ct && g_mime_content_type_is_type(ct, "text", "plain");
  const bool html = ct && g_mime_content_type_is_type(ct, "text", "html");
  if (!attached && (plain || html)) {
    const char* charset = g_mime_content_type_get_parameter(ct, "charset");
    std::string text = to_utf8(decoded_content(part), charset ? charset : "");
    // One line-ending convention for every consumer.
    std::string lf;
    lf.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r') {
        lf += '\n';
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      } else {
        lf += text[i];
      }
    }
    append_text(plain ? out.text_body : out.html_body, std::move(lf));
    return;
  }
  attachment a;
  a.file_name = text_of(filename);
  a.content_type = mime_type(object);
  decoded_content(part, &a.size);
  out.attachments.push_back(std::move(a));
}

message convert(GMimeMessage* msg, GMimeParserOptions* options, int depth) {
  message m;
  add_mailboxes(g_mime_message_get_from(msg), m.from);
  add_mailboxes(g_mime_message_get_reply_to(msg), m.reply_to);
  add_mailboxes(g_mime_message_get_to(msg), m.to);
  add_mailboxes(g_mime_message_get_cc(msg), m.cc);
  m.subject = std::string(trim(text_of(g_mime_message_get_subject(msg))));
  if (GDateTime* d = g_mime_message_get_date(msg))
    m.date = std::chrono::sys_seconds(std::chrono::seconds(g_date_time_to_unix(d)));
  m.message_id = text_of(g_mime_message_get_message_id(msg));
  if (const char* irt = g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To")) {
    if (GMimeReferences* refs = g_mime_references_parse(options, irt)) {
      if (g_mime_references_length(refs) > 0) m.in_reply_to = text_of(g_mime_references_get_message_id(refs, 0));
      g_mime_references_free(refs);
    }
  }
  if (GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(msg))) {
    const int n = g_mime_header_list_get_count(headers);
    for (int i = 0; i < n; ++i) {
      GMimeHeader* h = g_mime_header_list_get_header_at(headers, i);
      const char* name = h ? g_mime_header_get_name(h) : nullptr;
      if (name && g_ascii_strcasecmp(name, "Authentication-Results") == 0)
        m.authentication_results.push_back(std::string(trim(text_of(g_mime_header_get_value(h)))));
    }
  }
  walk(g_mime_message_get_mime_part(msg), m, options, depth);
  return m;
}

/// Whether the input starts like a message: a header field ("Name: value") or an mbox "From " line.
bool starts_with_header(std::string_view raw) {
  while (!raw.empty() && (raw.front() == '\r' || raw.front() == '\n')) raw.remove_prefix(1);
  if (raw.substr(0, 5) == "From ") return true;
  std::size_t i = 0;
  while (i < raw.size() && i < 256) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == ':') return i > 0;
    if (c <= 32 || c >= 127) break;
    ++i;
  }
  // "Name :" (a space before the colon) is obsolete syntax but still a header.
  while (i < raw.size() && (raw[i] == ' ' || raw[i] == '\t')) ++i;
  return i > 0 && i < raw.size() && raw[i] == ':';
}

bool equals_lower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

std::size_t count_containers(std::string_view raw) {
  std::size_t n = 0;
  for (std::size_t i = 0; i + 10 <= raw.size(); ++i) {
    const char c = raw[i];
    if (c != 'm' && c != 'M') continue;
    const std::string_view head = raw.substr(i, 10);
    if (equals_lower(head, "multipart/") || equals_lower(head, "message/rf")) ++n;
  }
  return n;
}

result<message> parse_bytes(std::string_view raw) {
  if (raw.size() > max_message_bytes)
    return make_error(error_code::invalid,
                      "mail message too large: " + std::to_string(raw.size()) + " bytes (at most " +
                          std::to_string(max_message_bytes) + ")",
                      "message");
  if (!starts_with_header(raw))
    return make_error(error_code::invalid,
                      "not a mail message: the input does not start with a header field (\"Name: value\")", "message");
  if (count_containers(raw) > max_container_parts)
    return make_error(error_code::invalid,
                      "mail message has more than " + std::to_string(max_container_parts) +
                          " multipart or message/rfc822 parts",
                      "message");
  init_gmime();
  std::unique_ptr<GMimeParserOptions, void (*)(GMimeParserOptions*)> options(g_mime_parser_options_new(),
                                                                              g_mime_parser_options_free);
  // Raw 8-bit headers without a declared charset: UTF-8 when they are, else what Windows senders use.
  const char* fallback[] = {"utf-8", "windows-1252", nullptr};
  g_mime_parser_options_set_fallback_charsets(options.get(), fallback);
  // The memory stream copies `raw`; the GMime objects own everything they hand out until freed.
  gobject_ptr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  gobject_ptr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  gobject_ptr<GMimeMessage> msg(g_mime_parser_construct_message(parser.get(), options.get()));
  if (!msg) return make_error(error_code::invalid, "not a mail message: no header block could be read", "message");
  message m = convert(msg.get(), options.get(), 0);
  if (m.from.empty() || m.from.front().address.empty())
    return make_error(error_code::invalid, "not a mail message: no From header with an address", "From");
  return m;
}

}  // namespace

result<message> parse(std::string_view raw) {
  try {
    return parse_bytes(raw);
  } catch (const std::exception& e) {
    // Only allocation failures can get here; GMime itself never throws.
    return make_error(error_code::internal, std::string("mail message could not be parsed: ") + e.what(), "message");
  }
}

}  // namespace flowtrack::domain::mail

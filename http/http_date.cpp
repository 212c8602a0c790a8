#include "http/http_date.hpp"

#include <cstdio>
#include <ctime>

namespace cluster_actions::http {

std::string http_date(std::chrono::system_clock::time_point now) {
  // Spelled out rather than strftime's %a and %b, which follow the locale.
  static constexpr const char* days[]
    = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
  auto seconds = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                days[utc.tm_wday], utc.tm_mday, months[utc.tm_mon],
                utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return text;
}

} // namespace cluster_actions::http

//! Business hours: when a team's humans answer, in the team's own time zone, and when they
//! are next back. The policy asks [`BusinessHours::next_opening`] at the time of a decision
//! (the pipeline's clock, fixed in tests and in re-runs), so the same decision always sees the
//! same hours.

use crate::config::BusinessHoursConfig;
use crate::domain::Reopening;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// A configuration mistake, named by the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not an IANA time zone name.
    #[error("timezone {0:?} is not a time zone name like \"Europe/Paris\"")]
    TimeZone(String),
    /// Not `HH:MM`.
    #[error("{field} {value:?} is not a time like \"09:00\"")]
    Time {
        /// `open` or `close`.
        field: &'static str,
        /// As written.
        value: String,
    },
    /// Not a day name.
    #[error("days: {0:?} is not one of mon, tue, wed, thu, fri, sat, sun")]
    Day(String),
    /// Closing at or before opening.
    #[error("close {close} is not after open {open}")]
    Order {
        /// Opening time.
        open: String,
        /// Closing time.
        close: String,
    },
}

/// One team's opening hours, compiled.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    tz_name: String,
    tz: TimeZone,
    /// Open on each day, Monday first.
    days: [bool; 7],
    open: Time,
    close: Time,
}

fn parse_time(field: &'static str, value: &str) -> Result<Time, Error> {
    let bad = || Error::Time {
        field,
        value: value.to_owned(),
    };
    let (h, m) = value.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    Time::new(h, m, 0, 0).map_err(|_| bad())
}

fn parse_day(name: &str) -> Result<usize, Error> {
    let index = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .position(|d| name.trim().to_ascii_lowercase().starts_with(d))
        .ok_or_else(|| Error::Day(name.to_owned()))?;
    Ok(index)
}

impl BusinessHours {
    /// Compiles `[policy.business_hours.<team>]`.
    pub fn from_config(config: &BusinessHoursConfig) -> Result<Self, Error> {
        let tz = TimeZone::get(&config.timezone).map_err(|_| Error::TimeZone(config.timezone.clone()))?;
        let open = parse_time("open", &config.open)?;
        let close = parse_time("close", &config.close)?;
        if close <= open {
            return Err(Error::Order {
                open: config.open.clone(),
                close: config.close.clone(),
            });
        }
        let mut days = [false; 7];
        for day in &config.days {
            days[parse_day(day)?] = true;
        }
        Ok(Self {
            tz_name: config.timezone.clone(),
            tz,
            days,
            open,
            close,
        })
    }

    /// `None` while the team is open at `now`; otherwise when it next opens.
    pub fn next_opening(&self, now: Timestamp) -> Option<Reopening> {
        let local: ZonedDateTime = now.to_zoned_datetime(self.tz.clone());
        let today = local.date();
        for offset in 0..=7i64 {
            let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
                continue;
            };
            if !self.days[usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0)] {
                continue;
            }
            let Ok(opens) = date.to_datetime(self.open).to_zoned_datetime(self.tz.clone()) else {
                continue;
            };
            let Ok(closes) = date.to_datetime(self.close).to_zoned_datetime(self.tz.clone()) else {
                continue;
            };
            if offset == 0 && local >= opens && local < closes {
                return None;
            }
            if opens > local {
                return Some(Reopening {
                    at: opens.timestamp().as_second(),
                    weekday: opens.weekday().to_monday_zero_offset(),
                    date: opens.date().to_string(),
                    time: format!("{:02}:{:02}", self.open.hour(), self.open.minute()),
                    timezone: self.tz_name.clone(),
                });
            }
        }
        // No open day configured: there is no "back at" to tell.
        None
    }
}

/// Monday-first weekday names, for logs.
pub fn weekday_name(weekday: i8) -> &'static str {
    match Weekday::from_monday_zero_offset(weekday) {
        Ok(Weekday::Monday) => "Monday",
        Ok(Weekday::Tuesday) => "Tuesday",
        Ok(Weekday::Wednesday) => "Wednesday",
        Ok(Weekday::Thursday) => "Thursday",
        Ok(Weekday::Friday) => "Friday",
        Ok(Weekday::Saturday) => "Saturday",
        Ok(Weekday::Sunday) => "Sunday",
        Err(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> BusinessHours {
        BusinessHours::from_config(&BusinessHoursConfig {
            timezone: "Europe/Paris".into(),
            days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            open: "09:00".into(),
            close: "17:30".into(),
        })
        .unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn open_during_the_day_in_the_teams_time_zone() {
        // 2026-11-24 is a Tuesday; 08:30 UTC is 09:30 in Paris.
        assert_eq!(paris().next_opening(at("2026-11-24T08:30:00Z")), None);
        // 16:45 UTC is 17:45 in Paris: closed, back tomorrow at 09:00.
        let back = paris().next_opening(at("2026-11-24T16:45:00Z")).unwrap();
        assert_eq!(back.date, "2026-11-25");
        assert_eq!(back.time, "09:00");
        assert_eq!(back.at, at("2026-11-25T08:00:00Z").as_second());
    }

    #[test]
    fn friday_evening_reopens_on_monday_and_early_morning_the_same_day() {
        let back = paris().next_opening(at("2026-11-27T20:00:00Z")).unwrap();
        assert_eq!((back.date.as_str(), back.weekday), ("2026-11-30", 0));
        let early = paris().next_opening(at("2026-11-24T05:00:00Z")).unwrap();
        assert_eq!(early.date, "2026-11-24");
    }

    #[test]
    fn mistakes_are_named() {
        let mut config = BusinessHoursConfig {
            timezone: "Mars/Olympus".into(),
            days: vec!["mon".into()],
            open: "09:00".into(),
            close: "17:00".into(),
        };
        assert!(matches!(
            BusinessHours::from_config(&config),
            Err(Error::TimeZone(_))
        ));
        config.timezone = "UTC".into();
        config.close = "08:00".into();
        assert!(matches!(
            BusinessHours::from_config(&config),
            Err(Error::Order { .. })
        ));
        config.close = "25:00".into();
        assert!(matches!(
            BusinessHours::from_config(&config),
            Err(Error::Time { .. })
        ));
        config.close = "17:00".into();
        config.days = vec!["funday".into()];
        assert!(matches!(BusinessHours::from_config(&config), Err(Error::Day(_))));
    }
}

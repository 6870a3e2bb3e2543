-- clinic: an outpatient clinic with departments, doctors, patients and appointments.
PRAGMA foreign_keys = ON;

CREATE TABLE Departments (
    DeptId INTEGER PRIMARY KEY,
    DeptName TEXT NOT NULL,
    Floor INTEGER NOT NULL
);

CREATE TABLE Doctors (
    DoctorId INTEGER PRIMARY KEY,
    FullName TEXT NOT NULL,
    DeptId INTEGER NOT NULL,
    HireYear INTEGER,
    FOREIGN KEY (DeptId) REFERENCES Departments (DeptId)
);

CREATE TABLE Patients (
    PatientId INTEGER PRIMARY KEY,
    FirstName TEXT NOT NULL,
    LastName TEXT NOT NULL,
    BirthDate DATE NOT NULL,
    Gender TEXT NOT NULL,
    InsuranceProvider TEXT
);

CREATE TABLE Appointments (
    AppointmentId INTEGER PRIMARY KEY,
    PatientId INTEGER NOT NULL,
    DoctorId INTEGER NOT NULL,
    ApptDate DATE NOT NULL,
    Reason TEXT NOT NULL,
    Fee REAL,
    Status TEXT NOT NULL,
    FOREIGN KEY (PatientId) REFERENCES Patients (PatientId),
    FOREIGN KEY (DoctorId) REFERENCES Doctors (DoctorId)
);

INSERT INTO Departments VALUES (1, 'Cardiology', 3);
INSERT INTO Departments VALUES (2, 'Pediatrics', 2);
INSERT INTO Departments VALUES (3, 'Dermatology', 4);
INSERT INTO Departments VALUES (4, 'Orthopedics', 1);
INSERT INTO Departments VALUES (5, 'Neurology', 5);
INSERT INTO Departments VALUES (6, 'General Medicine', 1);
INSERT INTO Departments VALUES (7, 'Ophthalmology', 4);
INSERT INTO Departments VALUES (8, 'Psychiatry', 5);

INSERT INTO Doctors VALUES (1, 'Anna Kowalski', 1, 2009);
INSERT INTO Doctors VALUES (2, 'Rajesh Iyer', 1, 2015);
INSERT INTO Doctors VALUES (3, 'Emily Carter', 2, 2012);
INSERT INTO Doctors VALUES (4, 'Miguel Torres', 2, 2019);
INSERT INTO Doctors VALUES (5, 'Sarah Lindgren', 3, 2017);
INSERT INTO Doctors VALUES (6, 'David Abara', 4, 2006);
INSERT INTO Doctors VALUES (7, 'Laura Nguyen', 4, 2021);
INSERT INTO Doctors VALUES (8, 'Henrik Olsen', 5, 2011);
INSERT INTO Doctors VALUES (9, 'Fatima Al-Sayed', 6, 2014);
INSERT INTO Doctors VALUES (10, 'Peter Walsh', 6, 2023);
INSERT INTO Doctors VALUES (11, 'Chen Liu', 7, NULL);

INSERT INTO Patients VALUES (1, 'John', 'Miller', '1958-04-12', 'M', 'BlueShield');
INSERT INTO Patients VALUES (2, 'Maria', 'Garcia', '1990-09-03', 'F', 'Aetna');
INSERT INTO Patients VALUES (3, 'Wei', 'Zhang', '1984-01-27', 'M', NULL);
INSERT INTO Patients VALUES (4, 'Aisha', 'Bello', '2015-06-18', 'F', 'Medicaid');
INSERT INTO Patients VALUES (5, 'Robert', 'Evans', '1947-11-02', 'M', 'Medicare');
INSERT INTO Patients VALUES (6, 'Linda', 'Park', '1972-03-30', 'F', 'BlueShield');
INSERT INTO Patients VALUES (7, 'Omar', 'Farouk', '2018-12-09', 'M', 'Medicaid');
INSERT INTO Patients VALUES (8, 'Grace', 'Thompson', '1999-07-21', 'F', NULL);
INSERT INTO Patients VALUES (9, 'Hiroshi', 'Sato', '1965-05-14', 'M', 'Aetna');
INSERT INTO Patients VALUES (10, 'Elena', 'Petrova', '1981-10-08', 'F', 'Cigna');
INSERT INTO Patients VALUES (11, 'Lucas', 'Moreau', '2012-02-25', 'M', 'Cigna');
INSERT INTO Patients VALUES (12, 'Priya', 'Raman', '1995-08-16', 'F', 'Aetna');
INSERT INTO Patients VALUES (13, 'George', 'Whitman', '1939-12-01', 'M', 'Medicare');
INSERT INTO Patients VALUES (14, 'Nina', 'Kovac', '2003-04-04', 'F', NULL);

INSERT INTO Appointments VALUES (1, 1, 1, '2024-02-01', 'Chest pain', 250.0, 'completed');
INSERT INTO Appointments VALUES (2, 5, 2, '2024-02-01', 'Follow-up', 120.0, 'completed');
INSERT INTO Appointments VALUES (3, 4, 3, '2024-02-02', 'Vaccination', 80.0, 'completed');
INSERT INTO Appointments VALUES (4, 2, 5, '2024-02-05', 'Skin rash', 150.0, 'completed');
INSERT INTO Appointments VALUES (5, 9, 8, '2024-02-06', 'Migraine', 220.0, 'completed');
INSERT INTO Appointments VALUES (6, 6, 9, '2024-02-07', 'Annual checkup', 100.0, 'completed');
INSERT INTO Appointments VALUES (7, 7, 4, '2024-02-08', 'Fever', 90.0, 'completed');
INSERT INTO Appointments VALUES (8, 3, 6, '2024-02-12', 'Knee pain', 180.0, 'completed');
INSERT INTO Appointments VALUES (9, 13, 1, '2024-02-13', 'Arrhythmia', 300.0, 'completed');
INSERT INTO Appointments VALUES (10, 10, 5, '2024-02-14', 'Acne', 140.0, 'completed');
INSERT INTO Appointments VALUES (11, 12, 9, '2024-02-15', 'Sore throat', NULL, 'cancelled');
INSERT INTO Appointments VALUES (12, 8, 7, '2024-02-19', 'Sprained ankle', 160.0, 'completed');
INSERT INTO Appointments VALUES (13, 11, 3, '2024-02-20', 'Asthma', 110.0, 'completed');
INSERT INTO Appointments VALUES (14, 1, 2, '2024-02-22', 'Follow-up', 120.0, 'completed');
INSERT INTO Appointments VALUES (15, 14, 10, '2024-02-26', 'Annual checkup', 100.0, 'no-show');
INSERT INTO Appointments VALUES (16, 5, 8, '2024-02-27', 'Dizziness', 210.0, 'completed');
INSERT INTO Appointments VALUES (17, 9, 8, '2024-03-01', 'Migraine', 220.0, 'completed');
INSERT INTO Appointments VALUES (18, 6, 1, '2024-03-04', 'Palpitations', 260.0, 'completed');
INSERT INTO Appointments VALUES (19, 2, 9, '2024-03-05', 'Flu symptoms', 100.0, 'completed');
INSERT INTO Appointments VALUES (20, 4, 4, '2024-03-06', 'Ear infection', 85.0, 'completed');
INSERT INTO Appointments VALUES (21, 3, 7, '2024-03-11', 'Back pain', NULL, 'cancelled');
INSERT INTO Appointments VALUES (22, 13, 2, '2024-03-12', 'Follow-up', 130.0, 'completed');
INSERT INTO Appointments VALUES (23, 10, 10, '2024-03-13', 'Annual checkup', 100.0, 'completed');
INSERT INTO Appointments VALUES (24, 7, 3, '2024-03-15', 'Vaccination', 80.0, 'completed');
INSERT INTO Appointments VALUES (25, 8, 5, '2024-03-18', 'Mole check', 145.0, 'scheduled');
INSERT INTO Appointments VALUES (26, 12, 6, '2024-03-20', 'Wrist fracture', 320.0, 'scheduled');
INSERT INTO Appointments VALUES (27, 1, 1, '2024-03-22', 'Stress test', 410.0, 'scheduled');
INSERT INTO Appointments VALUES (28, 11, 4, '2024-03-25', 'Allergy', 115.0, 'scheduled');
INSERT INTO Appointments VALUES (29, 14, 9, '2024-03-27', 'Headache', 100.0, 'scheduled');
INSERT INTO Appointments VALUES (30, 5, 1, '2024-03-29', 'Chest pain', 250.0, 'scheduled');
